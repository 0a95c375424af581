"""A pytest plugin: notebooks that pass under nbval are stored in the book's jupyter-cache.

`pytest --nbval` executes every chapter; `jupyter-book build` (execute_notebooks: cache) would
then execute every chapter again. To run each chapter once, this plugin collects the outputs
nbval produced for each code cell and, when every cell of a chapter passed, caches the chapter's
MyST source with those outputs in `_build/.jupyter_cache`, exactly as MyST-NB would after
executing it. The build then finds the chapter in the cache and renders these outputs. A chapter
that failed is not cached, so the build executes it again and fails the same way.
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE_PATH = ROOT / "_build" / ".jupyter_cache"

_runs: dict[Path, dict] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "call" or type(item).__name__ != "IPyNbCell":
        return
    report = outcome.get_result()
    run = _runs.setdefault(Path(str(item.parent.fspath)), {"cells": {}, "failed": False, "seconds": 0.0})
    run["seconds"] += call.duration
    if report.passed and item.test_outputs is not None:
        run["cells"][item.cell_num] = item.test_outputs
    else:
        run["failed"] = True


def pytest_sessionfinish(session, exitstatus):
    for ipynb, run in _runs.items():
        source = ipynb.with_suffix(".md")
        if not run["failed"] and source.exists():
            cache_executed_source(source, run["cells"], run["seconds"])


def cache_executed_source(source: Path, outputs_by_cell: dict, seconds: float) -> bool:
    """Cache ``source`` (a MyST notebook) with the outputs nbval recorded; False if cells differ."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from myst_nb.core.read import read_myst_markdown_notebook

    nb = read_myst_markdown_notebook(source.read_text(encoding="utf-8"), path=source)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    if sorted(outputs_by_cell) != list(range(len(code_cells))):
        return False  # the .ipynb nbval ran has other cells than the .md: let the build execute it
    for number, cell in enumerate(code_cells):
        cell.outputs = outputs_by_cell[number]
        cell.execution_count = number + 1
        for output in cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = number + 1
    cache = get_cache(str(CACHE_PATH))
    cache.cache_notebook_bundle(
        CacheBundleIn(nb, str(source), data={"execution_seconds": seconds}),
        check_validity=False,
        overwrite=True,
    )
    return True
