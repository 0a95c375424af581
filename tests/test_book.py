"""The book's structure: chapters paired with their notebooks, the Colab cell, the table of contents."""

import re
from pathlib import Path

import jupytext
import pytest
import yaml

from tools.sync_notebooks import chapters, colab_setup_source, course_ref, setup_cell

ROOT = Path(__file__).resolve().parent.parent


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [entry["file"] for entry in part["chapters"]]
    return files


def cells(notebook):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in notebook.cells]


@pytest.mark.parametrize("source", chapters(), ids=lambda p: p.name)
def test_chapter_and_its_ipynb_have_the_same_cells(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} is missing: run ./dev sync {source.relative_to(ROOT)}"
    assert cells(jupytext.read(source)) == cells(jupytext.read(paired)), (
        f"{source.name} and {paired.name} differ: run ./dev sync {source.relative_to(ROOT)}"
    )


@pytest.mark.parametrize("source", chapters(), ids=lambda p: p.name)
def test_chapter_opens_with_the_colab_cell_from_config(source):
    for path in (source, source.with_suffix(".ipynb")):
        cell = setup_cell(jupytext.read(path))
        assert cell is not None, f"{path.name}: the first code cell must be the Colab cell, tagged remove-cell"
        assert cell.source == colab_setup_source(), f"{path.name}: stale Colab cell, run ./dev sync"


@pytest.mark.parametrize("source", chapters(), ids=lambda p: p.name)
def test_chapter_ipynb_is_executed(source):
    notebook = jupytext.read(source.with_suffix(".ipynb"))
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{source.name}: run ./dev sync to execute it"


def test_toc_lists_only_existing_pages_and_every_chapter():
    listed = toc_files()
    for name in listed:
        assert (ROOT / f"{name}.md").exists(), f"_toc.yml lists {name}, which does not exist"
    for source in chapters():
        assert str(source.relative_to(ROOT).with_suffix("")) in listed, f"{source.name} is not in _toc.yml"


def test_the_colab_cell_installs_the_course_release_on_colab_only():
    # What pip does with the cell's command is tested in tests/test_colab_install.py.
    source = colab_setup_source()
    assert 'if "google.colab" in sys.modules:' in source and "--no-deps" not in source
    url = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]
    assert f'"lmbook[colab] @ git+{url}@{course_ref()}"' in source


def test_every_citation_is_in_the_bibliography_once():
    import re

    from pybtex.database import parse_file

    bib_text = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\{([^,]+),", bib_text, flags=re.M)
    assert len(keys) == len(set(keys)), f"duplicate keys: {sorted(k for k in set(keys) if keys.count(k) > 1)}"
    entries = parse_file(str(ROOT / "book" / "references.bib")).entries  # raises on a syntax error
    assert set(entries) == set(keys)
    for source in chapters():
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", source.read_text(encoding="utf-8")):
            for key in group.split(","):
                assert key.strip() in entries, f"{source.name} cites {key.strip()!r}, not in references.bib"


def formatted_bibliography():
    """Every entry of references.bib as the book formats it (tools/back_matter.py's author-year style)."""
    import pybtex.plugin
    from pybtex.database import parse_file

    from tools.back_matter import register

    register()
    style = pybtex.plugin.find_plugin("pybtex.style.formatting", "author_year")()
    return list(style.format_entries(parse_file(str(ROOT / "book" / "references.bib")).entries.values()))


def test_each_work_is_in_the_bibliography_once():
    import re

    # The same work under two keys (PaLM was chowdhery2022 and chowdhery2023) shows twice.
    def normalised(title: str) -> str:
        return re.sub(r"[^a-z0-9]+", " ", title.lower()).strip()

    from pybtex.database import parse_file

    titles = {}
    for key, entry in parse_file(str(ROOT / "book" / "references.bib")).entries.items():
        title = normalised(entry.fields["title"])
        assert title not in titles, f"{key} and {titles[title]} are the same work: keep one key"
        titles[title] = key


def test_bibliography_labels_read_as_the_text_cites():
    import re

    labels = {entry.key: entry.label for entry in formatted_bibliography()}
    assert len(set(labels.values())) == len(labels), "two entries share a label"
    for key, label in labels.items():
        # "Authors, year": no alpha label ([TLI+23]) and no TeX mangled into it ([GDollarG+17]).
        assert re.fullmatch(r"[^\\{}$+\[\]]+, (\d{4}|n\.d\.)[a-z]?", label), f"{key}: {label!r}"
    assert labels["goyal2017"] == "Goyal et al., 2017"
    assert (labels["touvron2023"], labels["touvron2023llama2"]) == ("Touvron et al., 2023a", "Touvron et al., 2023b")
    assert labels["kudo2018subword"] == "Kudo, 2018" and labels["chowdhery2023"] == "Chowdhery et al., 2023"
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["sphinx"]
    assert config["local_extensions"]["back_matter"] == "tools/"
    assert config["config"]["bibtex_default_style"] == "author_year"
    assert config["config"]["bibtex_reference_style"] == "author_year_lettered"  # the text's years lettered alike


def test_bibliography_shows_no_raw_latex():
    import re

    for entry in formatted_bibliography():
        # \url{...} is the one command the HTML backend turns into a link; any other shows raw.
        text = entry.text.render_as("text").replace("\\url ", "")
        assert not re.search(r"[\\{}$]", text), f"{entry.key} shows raw LaTeX: {text}"


def test_claims_page_links_chapters_by_title():
    from lmbase.claims import chapter_title, claims_table, load_claims

    claims = load_claims()
    table = claims_table(claims)
    for chapter in {c.chapter for c in claims if c.chapter}:
        heading = next(line[2:] for line in (ROOT / "book" / f"{chapter}.md").read_text(encoding="utf-8").splitlines()
                       if line.startswith("# "))
        assert chapter_title(chapter) == heading
        assert f"([{heading}]({chapter}.md))" in table
        assert f"[{chapter}]" not in table
    assert chapter_title("01_ngram", book=ROOT / "nowhere") == "01_ngram"  # on Colab: the file id


# Code a reader sees fits the content column (about 740 px, 88 characters of code) without
# scrolling sideways. What counts: every line of a {code-cell} in a chapter (its `:tag:` option
# lines excepted) and of a plain fenced code block in its prose (```python, ```bash or bare ```).
# Package code shown with {literalinclude} keeps the packages' own limit and is not counted.
CODE_LINE_LIMIT = 88


def long_code_lines(source: Path) -> list[tuple[int, int]]:
    """(line number, length) of each code line over the limit in a chapter's MyST source."""
    from markdown_it import MarkdownIt

    lines = source.read_text(encoding="utf-8").splitlines()
    long = []
    for token in MarkdownIt("commonmark").parse("\n".join(lines)):
        if token.type != "fence" or not token.map:
            continue
        info = token.info.strip()
        if info.startswith("{") and not info.startswith("{code-cell}"):
            continue  # a directive ({figure}, {literalinclude}, {math}, ...), not code
        first, last = token.map[0] + 1, token.map[1] - 1  # the lines between the fences
        body = range(first, last)
        if info.startswith("{code-cell}"):
            body = [i for i in body if not lines[i].startswith(":")]  # options such as :tags:
        long += [(i + 1, len(lines[i].expandtabs())) for i in body if len(lines[i].expandtabs()) > CODE_LINE_LIMIT]
    return long


@pytest.mark.parametrize("source", chapters(), ids=lambda p: p.name)
def test_chapter_code_lines_fit_the_column(source):
    long = long_code_lines(source)
    assert not long, (
        f"{source.name}: {len(long)} code lines over {CODE_LINE_LIMIT} characters (line: length) "
        + ", ".join(f"{n}: {length}" for n, length in long)
    )


# What a reader must not see in a chapter's executed outputs (its committed .ipynb: Colab and
# GitHub show these; the book shows the same cells executed again). Only what is displayed is
# read: stream text, and of a result the richest text form (text/plain only when there is no
# HTML, Markdown, LaTeX or image beside it); images and widget data are never read.
# - an absolute path of the machine that ran it (its temporary folders, the home cache, the data
#   folder, the kernel's file named in a warning): a `/dir/dir...` path that starts a word (after
#   a space, quote, backtick, bracket, `=` or `,`; so URLs and ratios like tokens/s/param do not
#   count). The notebooks are executed on Linux, so a Windows path is quoted text (the seed's
#   hard-coded C:\Users\... on the claims page), not the machine's, and is not counted;
# - a Python warning: `SomethingWarning` in a cell's stderr (UserWarning, FutureWarning, ...);
# - a tqdm progress bar: its `n/total [mm:ss` counter or its `it/s]` / `s/it]` rate;
# - a bare repr: a result that is a dataclass or namedtuple repr (`Claim(id=...`) or any
#   `<... object at 0x...>`; print what the reader should read instead.
OUTPUT_DEFECTS = {
    "absolute path": re.compile(r"(?:^|(?<=[\s'\"`(\[=,]))(?:/[\w.@+-]+){2,}/?"),
    "warning": re.compile(r"\b[A-Z]\w*Warning\b"),
    "progress bar": re.compile(r"\d+/\d+ \[\d+:\d+|\d(?:it/s|s/it)\]"),
    "bare repr": re.compile(r"^[A-Z]\w*\(\w+=|object at 0x[0-9a-f]+", re.M),
}
SHOWN_RATHER_THAN_PLAIN = ("text/html", "text/markdown", "text/latex", "image/")


def displayed_outputs(notebook) -> list[tuple[int, str, str]]:
    """(cell number, output kind, text) of what each code cell's outputs show a reader."""
    shown = []
    for number, cell in enumerate(notebook.cells, start=1):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.output_type == "stream":
                shown.append((number, output.name, output.text))
            elif output.output_type in ("execute_result", "display_data"):
                data = output.get("data", {})
                for mime in ("text/html", "text/markdown", "text/latex"):
                    if mime in data:
                        shown.append((number, mime, "".join(data[mime])))
                if "text/plain" in data and not any(m.startswith(SHOWN_RATHER_THAN_PLAIN) for m in data):
                    shown.append((number, output.output_type, "".join(data["text/plain"])))
            elif output.output_type == "error":
                shown.append((number, "error", "\n".join(output.get("traceback", []))))
    return shown


def output_defects(notebook) -> dict[str, list[str]]:
    """Each kind of defect found in a notebook's outputs, each once per cell, as
    'cell N (its first line): what matched'."""
    found: dict[str, list[str]] = {}
    for number, kind, text in displayed_outputs(notebook):
        first_line = (notebook.cells[number - 1].source.splitlines() or [""])[0][:40]
        for defect, pattern in OUTPUT_DEFECTS.items():
            if defect == "warning" and kind != "stderr":
                continue
            if defect == "bare repr" and kind != "execute_result" and "object at 0x" not in text:
                continue
            hits = found.setdefault(defect, [])
            for match in pattern.finditer(text):
                hit = f"cell {number} ({first_line}): {match.group(0).strip()[:80]}"
                if defect == "progress bar" and any(h.startswith(f"cell {number} (") for h in hits):
                    break  # a bar redraws itself many times in one output: once per cell
                if hit not in hits:
                    hits.append(hit)
    return {defect: hits for defect, hits in found.items() if hits}


@pytest.mark.parametrize("source", chapters(), ids=lambda p: p.name)
def test_chapter_outputs_show_no_machine_paths_warnings_bars_or_reprs(source):
    import nbformat

    paired = source.with_suffix(".ipynb")
    found = output_defects(nbformat.read(paired, as_version=4))
    assert not found, f"{paired.name}: " + "; ".join(
        f"{defect}: {len(hits)}, e.g. {hits[:4]}" for defect, hits in found.items())
