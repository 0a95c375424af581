"""Write each chapter's Colab cell and its paired, executed .ipynb from the MyST source.

    python tools/sync_notebooks.py [book/NN_name.md ...]     (default: every chapter in book/)

For each chapter it
1. rewrites the first code cell (tagged remove-cell) as the Colab setup cell, built from the
   repository address in _config.yml, the one place that address is written, and the course's
   release (course_ref(): the tag v<version>, the version written once, in pyproject.toml);
2. converts the .md to a notebook with jupytext and executes it in fast mode with the working
   folder set to book/, as nbval and the book build run it;
3. writes the executed notebook beside the .md as .ipynb: Colab opens it, nbval compares it.
"""

import os
import re
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


def course_ref() -> str:
    """The release of the course that the Colab cell installs: the git tag v<version>.

    The version is written once, in pyproject.toml. Releasing: set the version there, run
    ./dev sync (it writes this tag into every chapter's Colab cell), commit, then tag that commit
    (git tag v<version>) and push the tag, so that the notebooks at the tag install the packages
    they were executed with.
    """
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = text[text.index("[project]"):]
    return "v" + re.search(r'^version = "([^"]+)"', project, flags=re.M).group(1)


# The one file the Colab cell writes: the requirements it gives pip.
COLAB_REQUIREMENTS = "/tmp/lmbook-requirements.txt"


def colab_setup_source() -> str:
    """The first code cell of every chapter: installs the course's packages on Colab only.

    It installs lmbook at the course's release with its [colab] extra (the libraries the
    chapters import, at loose lower bounds that Colab's preinstalled versions meet, so pip keeps
    those), and pins torch, jax and jaxlib at the versions Colab has installed: pip keeps them
    or, if a dependency could only be met by replacing one, fails instead of replacing it.
    Every line fits the chapters' 88 characters.
    """
    return (
        f"{SETUP_MARKER}, on Colab only: installs the course's packages (lmbook, release\n"
        f"# {course_ref()} of {repository_url()}) and the libraries its chapters import\n"
        "# (its [colab] extra). Colab's own JAX and PyTorch stay: the requirements pin them at\n"
        "# the versions installed, so pip never replaces them.\n"
        "import sys\n"
        "if \"google.colab\" in sys.modules:\n"
        "    from importlib.metadata import version\n"
        "    from importlib.util import find_spec\n"
        "    from pathlib import Path\n"
        "\n"
        f"    course = \"lmbook[colab] @ git+{repository_url()}@{course_ref()}\"\n"
        "    kept = [f\"{name}=={version(name)}\" for name in (\"torch\", \"jax\", \"jaxlib\")\n"
        "            if find_spec(name)]\n"
        f"    Path(\"{COLAB_REQUIREMENTS}\").write_text(\"\\n\".join([course, *kept]) + \"\\n\")\n"
        f"    %pip install --quiet --requirement {COLAB_REQUIREMENTS}"
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
