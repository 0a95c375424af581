"""The browser check (tools/check_pages.py) catches each defect its fixture pages hold.

Each page in tests/fixtures/pages has one defect, named in its <meta name="check-expects">, and
must fail with that kind; good.html has none and must pass at every width. The browser tests
need Chromium and are skipped without it; `./dev check` runs the same fixtures before the book.
"""

import re

import pytest

from tools import check_pages

FIXTURES = check_pages.fixture_expectations()
needs_chromium = pytest.mark.skipif(check_pages.chromium_missing() is not None, reason="Chromium is not installed")


@pytest.fixture(scope="module")
def served_fixtures():
    browser = check_pages.open_browser()
    server, base, folder = check_pages.serve_fixtures()
    yield browser, base
    browser.quit()
    server.shutdown()


def test_every_kind_of_failure_has_a_fixture_and_every_fixture_a_known_kind():
    expected = {kind for kind, _ in FIXTURES.values() if kind}
    assert expected <= set(check_pages.KINDS)
    # The Colab link is checked on chapters only (pages under book/), which fixtures are not.
    assert set(check_pages.KINDS) - expected <= {check_pages.NO_COLAB}
    assert FIXTURES["good"] == (None, check_pages.WIDTHS[0])


@needs_chromium
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_page_fails_with_its_defect_only(served_fixtures, name):
    browser, base = served_fixtures
    kind, width = FIXTURES[name]
    for w in check_pages.WIDTHS if kind is None else (width,):
        problems = check_pages.check_page(browser, base, name, None, w)
        if kind is None:
            assert problems == [], f"{name} at {w} px"
        else:
            assert any(p.startswith(kind) for p in problems), f"{name} at {w} px: {problems}"
            # Exactly its own defect (a missing image also logs its 404 to the console).
            allowed = {kind, check_pages.CONSOLE} if kind == check_pages.BROKEN_IMAGE else {kind}
            assert {k for k in check_pages.KINDS for p in problems if p.startswith(k)} <= allowed, problems


@pytest.mark.parametrize("text", [
    r"the gradient $\partial L / \partial W$", r"$C_{ij}$ pairs", r"\beta and GELU", r"\frac12",
    r"{cite:p}hendrycks2016", r"a \(x\) left", r"\mathrm{softmax}(x)", r"\texttt nltk.lm",
])
def test_raw_tex_patterns_catch_tex_and_roles(text):
    assert any(re.search(p, text) for p in check_pages.RAW_TEX_PATTERNS), text


@pytest.mark.parametrize("text", [
    "$5 and $10", "costs $3.50 per hour, $7 with tax", r"C:\Users is a path", "a {note} in braces",
    r"a hard-coded Windows path (C:\Users…\text.txt)",
    r"\textbackslash-free prose", "cite:p alone",
])
def test_raw_tex_patterns_leave_prose_alone(text):
    assert not any(re.search(p, text) for p in check_pages.RAW_TEX_PATTERNS), text


# The book's drawings (book/figures/*.svg), each shown as the book shows it: an image in a
# numbered, cited figure in a column as wide as the theme's (a 390 px phone leaves it 342 px).
DRAWINGS = sorted((check_pages.ROOT / "book" / "figures").glob("*.svg"))


def test_each_drawing_is_svg_drawn_here_with_a_title():
    import xml.etree.ElementTree as ET

    assert DRAWINGS, "book/figures holds no drawing"
    ns = "{http://www.w3.org/2000/svg}"
    for path in DRAWINGS:
        svg = ET.parse(path).getroot()
        assert svg.tag == f"{ns}svg" and svg.get("viewBox") and svg.get("width"), path.name
        assert svg.find(f"{ns}title") is not None and svg.find(f"{ns}desc") is not None, path.name
        # drawn with shapes and text, not an embedded picture or a file from elsewhere
        assert not svg.findall(f".//{ns}image") and "http" not in path.read_text().replace(
            "http://www.w3.org/2000/svg", ""), path.name


@needs_chromium
@pytest.mark.parametrize("width", check_pages.WIDTHS)
def test_the_books_drawings_read_at_every_width(served_fixtures, width, tmp_path):
    browser, _ = served_fixtures
    figures = "\n".join(
        f'<p>See <a href="#fig-{i}">Fig. {i}</a>.</p><figure id="fig-{i}"><img src="{p.name}" alt="{p.stem}">'
        f'<figcaption><span class="caption-number">Fig. {i} </span>{p.stem}</figcaption></figure>'
        for i, p in enumerate(DRAWINGS, start=1))
    (tmp_path / "drawings.html").write_text(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>drawings</title>'
        "<style>body { margin: 0; font: 16px/1.6 sans-serif; } figure { margin: 0 8px; }"
        " article.bd-article { max-width: 740px; margin: 0 auto; padding: 0 16px; }"
        " img { max-width: 100%; height: auto; }</style></head>"
        f'<body><main><article class="bd-article"><section>{figures}</section></article></main></body></html>',
        encoding="utf-8")
    for path in DRAWINGS:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    server, base = check_pages.start_server(tmp_path)
    try:
        assert check_pages.check_page(browser, base, "drawings", None, width) == []
    finally:
        server.shutdown()
