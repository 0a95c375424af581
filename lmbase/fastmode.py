"""Fast mode: the same code on smaller sizes, so that every chapter runs on a 2-core CPU.

Full mode is the default, the configuration a learner on a GPU or TPU should run. Setting the
environment variable ``LMBOOK_FAST=1`` (the tests, CI and the CPU book build do) switches every
chapter to its fast sizes. Fast mode changes sizes and step counts, never code paths.
"""

import os

FAST_MODE_VARIABLE = "LMBOOK_FAST"


def is_fast_mode() -> bool:
    """True when ``LMBOOK_FAST`` is set to 1 (or true/yes)."""
    value = os.environ.get(FAST_MODE_VARIABLE, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(
        f"{FAST_MODE_VARIABLE}={value!r} is not understood: set it to 1 for fast mode "
        f"or 0 (or leave it unset) for full mode"
    )


def pick(full, fast):
    """Return ``fast`` in fast mode and ``full`` otherwise, e.g. ``steps = pick(5000, 200)``."""
    return fast if is_fast_mode() else full
