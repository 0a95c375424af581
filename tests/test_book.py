"""The book's structure: chapters paired with their notebooks, the Colab cell, the table of contents."""

from pathlib import Path

import jupytext
import pytest
import yaml

from tools.sync_notebooks import chapters, colab_setup_source, setup_cell

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


def test_the_colab_cell_installs_without_dependencies():
    source = colab_setup_source()
    assert "--no-deps" in source and 'if "google.colab" in sys.modules' in source
    url = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]
    assert f"git+{url}" in source


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
