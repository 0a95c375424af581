"""Test-wide settings: fast mode for every test and chapter, and the nbval-to-cache bridge."""

import os

# The tests run the chapters in fast mode (see lmbase/fastmode.py); kernels inherit this.
os.environ.setdefault("LMBOOK_FAST", "1")

pytest_plugins = ["tools.nbval_to_jupyter_cache"]
