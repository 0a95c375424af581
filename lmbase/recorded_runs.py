"""Recorded runs: a benchmark's results saved with what is needed to trust and repeat them.

A page that shows a number it did not compute itself renders it from one of these files. Each
is JSON with ``command`` (to run again, from the repository's root), ``commit`` (the code that
ran, with ``+ uncommitted changes`` when the tree was not clean), ``recorded`` (UTC time),
``machine`` (processor, cores, operating system), ``device`` (what the benchmark ran on: a GPU's
name and driver), ``versions`` (of the libraries it used) and ``results`` (the benchmark's own).
:func:`load_record` returns None for a run not yet recorded, so a chapter can say so.
"""

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
FIELDS = ("command", "commit", "recorded", "machine", "device", "versions", "results")


def git_commit(root: Path = ROOT) -> str:
    """The checked-out commit, marked when the working tree has uncommitted changes."""
    found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    commit = found.stdout.strip()
    if not commit:
        return "unknown (not a git checkout)"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                           capture_output=True, text=True).stdout.strip()
    return commit + (" + uncommitted changes" if dirty else "")


def versions(*names: str) -> dict[str, str]:
    """The installed version of each distribution (``"not installed"`` for a missing one)."""
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def gpu_driver() -> str:
    """The NVIDIA driver's version, from ``nvidia-smi``, or ``"unknown"`` where it cannot tell."""
    try:
        found = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                               capture_output=True, text=True)
    except FileNotFoundError:
        return "unknown (no nvidia-smi)"
    return found.stdout.strip().splitlines()[0] if found.stdout.strip() else "unknown"


def machine() -> dict:
    return {"processor": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "system": platform.platform(), "python": platform.python_version()}


def record(path: Path, command: str, device: dict, results: dict, libraries=("numpy",),
           commit: str | None = None) -> dict:
    """Write ``results`` to ``path`` with their provenance; returns the record written. Pass the
    ``commit`` taken when the run started (``git_commit()``): the tree may change while it runs."""
    run = {"command": command, "commit": commit or git_commit(), "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(), "device": device, "versions": versions(*libraries), "results": results}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(run, indent=1) + "\n", encoding="utf-8")
    return run


def load_record(path: Path) -> dict | None:
    """The record at ``path``, or None when it has not been recorded; an incomplete file is an error."""
    path = Path(path)
    if not path.exists():
        return None
    run = json.loads(path.read_text(encoding="utf-8"))
    missing = [field for field in FIELDS if field not in run]
    if missing:
        raise ValueError(f"{path} lacks {missing}: it is not a recorded run (lmbase.recorded_runs.record writes them)")
    return run
