"""Write each chapter's Colab cell and its paired, executed .ipynb from the MyST source.

    python tools/sync_notebooks.py [book/NN_name.md ...]     (default: every chapter in book/)

For each chapter it
1. rewrites the first code cell (tagged remove-cell) as the Colab setup cell, built from the
   repository address in _config.yml, the one place that address is written;
2. converts the .md to a notebook with jupytext and executes it in fast mode with the working
   folder set to book/, as nbval and the book build run it;
3. writes the executed notebook beside the .md as .ipynb: Colab opens it, nbval compares it.
"""

import os
import sys
import time
from pathlib import Path

import jupytext
import nbclient
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
SETUP_MARKER = "# Colab setup"


def repository_url() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"].rstrip("/")


def colab_setup_source() -> str:
    """The first code cell of every chapter: installs the course's packages on Colab only."""
    return (
        f"{SETUP_MARKER}: installs the course's packages from {repository_url()}.\n"
        "# --no-deps keeps Colab's own JAX and PyTorch: nothing is reinstalled over them.\n"
        "import sys\n"
        "if \"google.colab\" in sys.modules:\n"
        f"    %pip install --quiet --no-deps \"lmbook @ git+{repository_url()}\""
    )


def chapters() -> list[Path]:
    """Every MyST notebook in book/ (a .md whose front matter names a kernel)."""
    return sorted(p for p in BOOK.glob("*.md") if "kernelspec:" in p.read_text(encoding="utf-8")[:600])


def setup_cell(notebook):
    """The chapter's Colab cell: its first code cell, which must be tagged remove-cell."""
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if not code or "remove-cell" not in code[0].metadata.get("tags", []):
        return None
    return code[0]


SETUP_CELL_OPENING = "```{code-cell} ipython3\n:tags: [remove-cell]\n"


def write_setup_cell(source: Path) -> None:
    """Replace the body of the chapter's first code cell (the Colab cell) in the .md text."""
    text = source.read_text(encoding="utf-8")
    start = text.find("```{code-cell}")
    if start < 0 or not text.startswith(SETUP_CELL_OPENING, start):
        raise SystemExit(f"{source}: the first code cell must be the Colab cell, opening with\n{SETUP_CELL_OPENING}")
    body_start = start + len(SETUP_CELL_OPENING)
    body_end = text.index("\n```", body_start)
    updated = text[:body_start] + colab_setup_source() + text[body_end:]
    if updated != text:
        source.write_text(updated, encoding="utf-8")


def execute_to_ipynb(source: Path) -> float:
    notebook = jupytext.read(source)
    os.environ["LMBOOK_FAST"] = "1"
    start = time.perf_counter()
    nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(source.parent)}}).execute()
    notebook.metadata.pop("jupytext", None)
    jupytext.write(notebook, source.with_suffix(".ipynb"), fmt="ipynb")
    return time.perf_counter() - start


def main(paths: list[str]) -> None:
    for source in [Path(p).resolve() for p in paths] or chapters():
        write_setup_cell(source)
        seconds = execute_to_ipynb(source)
        print(f"{source.relative_to(ROOT)} -> {source.with_suffix('.ipynb').name} ({seconds:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
