"""Open every page of the built book in headless Chromium and check what a reader sees.

    python tools/check_pages.py [--html _build/html] [--widths 1280,390] [--screenshots FOLDER]

The built HTML is served on localhost and each page in _toc.yml is loaded at each width (a
desktop window and a 390 px phone). A page fails when
- its math is left untypeset (a math element without MathJax output, or a TeX error),
- its visible text, outside code and rendered math, shows TeX or MyST source: a `$...$` pair,
  `\\frac`, `\\partial`, `\\mathrm` and the like, or a `{cite:p}` role left raw; or a math
  element's TeX holds a MyST role (prose swallowed by a broken `$`),
- a math element is wider than its column (break a long display equation with `aligned`); on a
  phone (under 768 px) it may be, inside a box that scrolls sideways on its own,
- the page scrolls sideways (its scrollWidth exceeds the window),
- an image is broken (not loaded, or zero size), or a figure or picture has no caption (a
  caption that is only its number, "Fig. 3", counts as none),
- a captioned figure has no number ("Fig. 3"), or the page's text never cites it by that number
  (a {numref} link to it from outside the figure, whose text reads the number),
- a drawing's text is too small to read: an SVG picture (an image of an .svg file, or an inline
  <svg>) whose smallest text, as laid out at this width, is under MIN_DRAWING_TEXT_PX,
- it is a chapter and has no working "open in Colab" link to its .ipynb,
- the browser console logs an error (a JavaScript exception or a resource that failed to load).
Before the book, the check runs itself on the fixture pages in tests/fixtures/pages: each has
one defect and must fail with it, and good.html must pass, so a check that stopped catching a
defect fails too (--no-self-test skips this).
Needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver).
"""

import argparse
import functools
import http.server
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "pages"
WIDTHS = (1280, 390)
WINDOW_HEIGHT = 2000
PHONE = 768  # narrower windows are phones: there a wide display equation may scroll in its own box
MIN_DRAWING_TEXT_PX = 9  # the smallest text a drawing may show, in CSS pixels as laid out

# The kinds of failure, each the start of a problem's message; the fixtures name the one they expect.
UNTYPESET = "math left untypeset"
TEX_ERROR = "TeX errors"
RAW_TEX = "raw TeX in visible text"
ROLE_IN_MATH = "a MyST role inside math"
WIDE_MATH = "math wider than its column"
OVERFLOW = "the page scrolls sideways"
BROKEN_IMAGE = "broken images"
NO_CAPTION = "a figure without a caption"
NO_NUMBER = "a figure without a number"
UNCITED = "a figure the text does not cite"
SMALL_TEXT = "text too small in a drawing"
NO_COLAB = "no Colab link"
CONSOLE = "console error"
KINDS = (UNTYPESET, TEX_ERROR, RAW_TEX, ROLE_IN_MATH, WIDE_MATH, OVERFLOW, BROKEN_IMAGE, NO_CAPTION,
         NO_NUMBER, UNCITED, SMALL_TEXT, NO_COLAB, CONSOLE)

WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const settle = () => setTimeout(() => done(true), 200);
if (!window.MathJax) { done(false); return; }
const ready = () => MathJax.startup && MathJax.startup.promise;
const wait = (tries) => ready() ? MathJax.startup.promise.then(settle, settle)
                               : (tries > 0 ? setTimeout(() => wait(tries - 1), 100) : done(false));
wait(100);
"""

# What counts as TeX or MyST source in visible text. A `$` pair counts only when it encloses a
# TeX character (backslash, ^, _ or a brace), so that prose about prices ("$5 and $10") does not;
# a command followed by a dot and a letter is a file name in a Windows path (C:\Users\...\text.txt).
RAW_TEX_PATTERNS = [
    r"\$[^$\n]*[\\^_{}][^$\n]*\$",
    r"\\(?:mathrm|mathcal|mathbf|mathbb|operatorname|text|frac|tfrac|dfrac|partial|sqrt|sum|prod|"
    r"cdot|times|odot|alpha|beta|gamma|epsilon|theta|lambda|sigma|top|left|right|big|Big|begin|end|"
    r"le|ge|approx|infty|quad|qquad|dots|ldots|lVert|rVert|underbrace|texttt)(?![A-Za-z]|\.[A-Za-z])",
    r"\\[()\[\]]",
    r"\{(?:cite|doc|ref|numref|eq|term|download|math)(?::[\w-]+)?\}",
]

PAGE_FACTS = """
const rawTex = arguments[0].map(p => new RegExp(p));
const root = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const maths = Array.from(document.querySelectorAll('.math'));
const describe = (el) => {
  const cls = (el.getAttribute('class') || '').split(' ').slice(0, 2).join(' ');
  const text = (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 50);
  return `<${el.tagName.toLowerCase()}${cls ? ' class="' + cls + '"' : ''}> ${JSON.stringify(text)}`;
};

// Visible text outside code and math, joined per block so that a pattern split by an inline
// element (a `$` pair around <em>) is still seen.
const SKIP = 'pre, code, kbd, samp, script, style, textarea, .math, mjx-container, .highlight';
const BLOCK = 'p, li, dt, dd, td, th, h1, h2, h3, h4, h5, h6, figcaption, caption, blockquote, div, section';
const blocks = new Map();
const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const parent = node.parentElement;
  if (!parent || parent.closest(SKIP)) continue;
  const block = parent.closest(BLOCK) || root;
  blocks.set(block, (blocks.get(block) || '') + node.textContent);
}
const rawTexFound = [];
for (const text of blocks.values()) {
  for (const pattern of rawTex) {
    const m = text.match(pattern);
    if (m) {
      const at = Math.max(0, m.index - 25);
      rawTexFound.push(text.slice(at, m.index + m[0].length + 25).replace(/\\s+/g, ' '));
      break;
    }
  }
}

// The TeX MathJax typeset: a MyST role or a backtick there is prose that a stray `$` swallowed.
const texSources = window.MathJax && MathJax.startup && MathJax.startup.document
    ? Array.from(MathJax.startup.document.math).map(item => item.math) : [];
const rolesInMath = texSources.filter(t => /\\{(cite|doc|ref|numref|eq)(:[\\w-]+)?\\}|`/.test(t));

// A typeset formula wider than the block it sits in (display math: its div; inline math: its
// paragraph, list item or cell). On a desktop it fails even when the theme lets it scroll; on a
// phone (arguments[1]) it may be wider when a box between it and its column scrolls sideways.
const phone = arguments[1];
const scrollsInside = (formula, column) => {
  for (let a = formula.parentElement; a && a !== column.parentElement; a = a.parentElement) {
    if (['auto', 'scroll'].includes(getComputedStyle(a).overflowX)) return true;
  }
  return false;
};
const contentWidth = (el) => {
  const style = getComputedStyle(el);
  return el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
};
const wideMath = [];
for (const box of root.querySelectorAll('mjx-container')) {
  const formula = box.querySelector('mjx-math');
  const column = box.parentElement && box.parentElement.closest(
      'div.math, p, li, dd, td, th, figcaption, blockquote, section, article');
  if (!formula || !column || formula.getBoundingClientRect().width === 0) continue;
  const width = formula.getBoundingClientRect().width, room = contentWidth(column);
  if (width > room + 1 && !(phone && scrollsInside(formula, column))) {
    const math = box.closest('.math') || box;
    wideMath.push(`${Math.round(width)} px in a ${Math.round(room)} px column: ${describe(math)}`);
  }
}

// Sideways scrolling of the page itself; the elements that stick out are named to help the fix
// (the deepest ones outside any box that scrolls or clips on its own).
const viewport = document.documentElement.clientWidth;
const pageWidth = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
const stickOut = [];
if (pageWidth > viewport + 1) {
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.overflowX !== 'visible' || style.position === 'fixed') return true;
    }
    return false;
  };
  const sticks = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || getComputedStyle(el).position === 'fixed') return false;
    const overflowsItself = getComputedStyle(el).overflowX === 'visible' && r.left + el.scrollWidth > viewport + 1;
    return (r.right > viewport + 1 || overflowsItself) && !clipped(el);
  };
  const all = Array.from(document.body.querySelectorAll('*')).filter(sticks);
  const deepest = all.filter(el => !all.some(other => other !== el && el.contains(other)));
  // A heading's "#" link says little: name the block it belongs to as well.
  stickOut.push(...deepest.slice(0, 3).map(el => (el.textContent || '').trim().length < 3 && el.parentElement
      ? `${describe(el)} in ${describe(el.parentElement)}` : describe(el)));
}

// A picture is an image, an embedded SVG object, or an inline SVG of at least 48 px (smaller
// ones are icons); each must sit in a <figure> whose <figcaption> has text besides its number
// ("Fig. 3") and its "#" link.
const captionText = (caption) => {
  const copy = caption.cloneNode(true);
  copy.querySelectorAll('.caption-number, a.headerlink').forEach(e => e.remove());
  return copy.textContent.trim();
};
const captioned = (el) => {
  const figure = el.closest('figure');
  const caption = figure && figure.querySelector('figcaption');
  return !!(caption && captionText(caption));
};
const pictures = Array.from(root.querySelectorAll('img, object[type="image/svg+xml"], svg')).filter(el => {
  if (el.closest('mjx-container, button, a.headerlink')) return false;
  if (el.tagName.toLowerCase() !== 'svg') return true;
  if (el.parentElement.closest('svg')) return false;  // a part of a larger drawing
  const r = el.getBoundingClientRect();
  return r.width >= 48 && r.height >= 48;
});
// Where a picture is, for the report: its file (not a data: URI), its alt text and its section.
const where = (el) => {
  const file = (el.getAttribute('src') || el.getAttribute('data') || '');
  const section = el.closest('section[id]');
  return `<${el.tagName.toLowerCase()}${file && !file.startsWith('data:') ? ' ' + file.slice(-60) : ''}`
      + `${el.getAttribute('alt') ? ' alt=' + JSON.stringify(el.getAttribute('alt').slice(0, 40)) : ''}>`
      + ` in section #${section ? section.id : '(none)'}`;
};
const emptyFigures = Array.from(root.querySelectorAll('figure'))
    .filter(f => !captioned(f) && !f.querySelector('img, svg, object'));

// A captioned figure is numbered ("Fig. 3"), and the text cites it by that number: some link
// outside the figure points at its id and reads its number (a {numref} role makes one); a link
// that names it in words, or its own "#" link, is no citation by number.
const figureName = (f) => `figure #${f.id || '(no id)'}: ${JSON.stringify(
    captionText(f.querySelector('figcaption')).slice(0, 50))}`;
const numbered = Array.from(root.querySelectorAll('figure')).filter(captioned);
const unnumbered = numbered.filter(f => !f.querySelector('figcaption .caption-number'));
const citations = Array.from(root.querySelectorAll('a[href*="#"]'));
const numberOf = (f) => {
  const n = f.querySelector('figcaption .caption-number');
  const m = n && n.textContent.match(/\\d+(\\.\\d+)*/);
  return m ? m[0] : null;
};
const readsNumber = (a, number) => number !== null
    && (a.textContent.match(/\\d+(\\.\\d+)*/g) || []).includes(number);
const cited = (f) => f.id && citations.some(a => !f.contains(a)
    && decodeURIComponent(a.getAttribute('href').split('#').pop()) === f.id
    && readsNumber(a, numberOf(f)));
const uncited = numbered.filter(f => !unnumbered.includes(f) && !cited(f));

return {
  title: document.title,
  math: maths.length,
  untypeset: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 60)),
  texErrors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent.slice(0, 60)),
  rawTex: rawTexFound,
  rolesInMath: rolesInMath.map(t => t.slice(0, 80)),
  wideMath: wideMath,
  viewport: viewport,
  pageWidth: pageWidth,
  stickOut: stickOut,
  images: document.images.length,
  broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
  uncaptioned: pictures.filter(el => !captioned(el)).concat(emptyFigures).map(where),
  unnumbered: unnumbered.map(figureName),
  uncited: uncited.map(figureName),
  colab: Array.from(document.querySelectorAll('a')).map(a => a.href)
             .filter(h => h.startsWith('https://colab.research.google.com/')),
};
"""

# The smallest text of each drawing, as laid out: an inline <svg> where it is; an image of an
# .svg file fetched, parsed and laid out off-screen at the size the image has on the page. A
# text's size on screen is its font size times the scale of its coordinates (getScreenCTM),
# which is where a viewBox shrinks a drawing to fit a phone.
DRAWING_TEXT = """
const done = arguments[arguments.length - 1];
const minPx = arguments[0];
const root = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const smallest = (svg) => {
  let least = null;
  for (const el of svg.querySelectorAll('text, tspan')) {
    const own = Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
    const ctm = el.getScreenCTM();
    if (!own || !ctm) continue;
    const px = parseFloat(getComputedStyle(el).fontSize) * Math.hypot(ctm.a, ctm.b);
    if (least === null || px < least.px) least = {px: px, text: own.slice(0, 30)};
  }
  return least;
};
const report = (name, least) => least && least.px < minPx
    ? `${name}: ${JSON.stringify(least.text)} at ${least.px.toFixed(1)} px (at least ${minPx})` : null;
const found = [];
for (const svg of root.querySelectorAll('svg')) {
  if (svg.parentElement.closest('svg, mjx-container, button, a.headerlink')) continue;
  const r = svg.getBoundingClientRect();
  if (r.width < 48 || r.height < 48) continue;
  const section = svg.closest('section[id]');
  found.push(report(`an inline <svg> in section #${section ? section.id : '(none)'}`, smallest(svg)));
}
const images = Array.from(root.querySelectorAll('img'))
    .filter(img => /\\.svg([?#]|$)/i.test(img.getAttribute('src') || '') && img.getBoundingClientRect().width > 0);
Promise.all(images.map(img => fetch(img.currentSrc || img.src).then(r => r.text()).then(text => {
  const parsed = new DOMParser().parseFromString(text, 'image/svg+xml').documentElement;
  if (parsed.nodeName !== 'svg') return null;
  const box = document.createElement('div');
  box.style.cssText = 'position:absolute; left:-20000px; top:0; visibility:hidden';
  const svg = document.importNode(parsed, true);
  const r = img.getBoundingClientRect();
  svg.setAttribute('width', r.width);
  svg.setAttribute('height', r.height);
  svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
  box.appendChild(svg);
  document.body.appendChild(box);
  try {
    return report(img.getAttribute('src').split('/').pop(), smallest(svg));
  } finally {
    box.remove();
  }
}).catch(error => `${img.getAttribute('src')}: could not be read (${error})`)))
  .then(reports => done(found.concat(reports).filter(Boolean)));
"""


def pages_in_toc() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"]] + [entry["file"] for part in toc["parts"] for entry in part["chapters"]]


def start_server(html: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def chromium_missing() -> str | None:
    """Why the browser cannot start, or None when Chromium and its driver are on PATH."""
    if (shutil.which("chromium") or shutil.which("chromium-browser")) and shutil.which("chromedriver"):
        return None
    return ("Chromium or its driver is missing (looked for chromium and chromedriver on PATH). "
            "Install Debian's packages: sudo apt-get install chromium chromium-driver")


def open_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if chromium_missing():
        sys.exit(chromium_missing())
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--hide-scrollbars", f"--window-size={WIDTHS[0]},{WINDOW_HEIGHT}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)


def set_width(browser, width: int) -> None:
    """Lay pages out at this width in CSS pixels, as a window (or phone screen) that wide would."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": WINDOW_HEIGHT, "deviceScaleFactor": 1, "mobile": False})


def problems_of(facts: dict, mathjax_loaded: bool, width: int) -> list[str]:
    """Each defect the page facts show, as a message that starts with its kind."""
    problems = []
    if facts["math"] and not mathjax_loaded:
        problems.append(f"{UNTYPESET}: the page has math but MathJax did not load")
    if facts["untypeset"]:
        problems.append(f"{UNTYPESET}: {len(facts['untypeset'])} elements, e.g. {facts['untypeset'][0]!r}")
    if facts["texErrors"]:
        problems.append(f"{TEX_ERROR}: {facts['texErrors'][:3]}")
    if facts["rawTex"]:
        problems.append(f"{RAW_TEX}: {len(facts['rawTex'])} places, e.g. {facts['rawTex'][:3]}")
    if facts["rolesInMath"]:
        problems.append(f"{ROLE_IN_MATH} (prose inside $...$?): {facts['rolesInMath'][:2]}")
    if facts["wideMath"]:
        problems.append(f"{WIDE_MATH} at {width} px: {len(facts['wideMath'])}, e.g. {facts['wideMath'][:3]}")
    if facts["pageWidth"] > facts["viewport"] + 1:
        problems.append(f"{OVERFLOW} at {width} px: {facts['pageWidth']} px wide in a {facts['viewport']} px "
                        f"window; sticking out: {facts['stickOut']}")
    if facts["broken"]:
        problems.append(f"{BROKEN_IMAGE}: {facts['broken'][:3]}")
    if facts["uncaptioned"]:
        problems.append(f"{NO_CAPTION}: {len(facts['uncaptioned'])}, e.g. {facts['uncaptioned'][:3]}")
    if facts["unnumbered"]:
        problems.append(f"{NO_NUMBER}: {len(facts['unnumbered'])}, e.g. {facts['unnumbered'][:3]} "
                        "(give the figure a :name: so that it is numbered)")
    if facts["uncited"]:
        problems.append(f"{UNCITED} by its number: {len(facts['uncited'])}, e.g. {facts['uncited'][:3]} "
                        "(cite it in the text with {numref}`its-name`)")
    if facts.get("smallText"):
        problems.append(f"{SMALL_TEXT} at {width} px: {facts['smallText'][:3]}")
    return problems


def colab_problems(page: str, links: list[str]) -> list[str]:
    """A chapter must link to its own notebook in Colab, and that notebook must exist."""
    if not page.startswith("book/"):
        return []
    notebook = f"{page}.ipynb"
    problems = []
    if not any(link.endswith(f"/blob/main/{notebook}") for link in links):
        problems.append(f"{NO_COLAB} to {notebook} (found {links})")
    if not (ROOT / notebook).exists():
        problems.append(f"{NO_COLAB}: the link points to {notebook}, which is not in the repository")
    return problems


def check_page(browser, base: str, page: str, screenshots: Path | None, width: int = WIDTHS[0]) -> list[str]:
    """Load one page at one width and return its problems (printed as it goes)."""
    set_width(browser, width)
    browser.get(f"{base}/{page}.html")
    mathjax_loaded = browser.execute_async_script(WAIT_FOR_MATHJAX)
    facts = browser.execute_script(PAGE_FACTS, RAW_TEX_PATTERNS, width < PHONE)
    facts["smallText"] = browser.execute_async_script(DRAWING_TEXT, MIN_DRAWING_TEXT_PX)
    problems = problems_of(facts, mathjax_loaded, width) + colab_problems(page, facts["colab"])
    for entry in browser.get_log("browser"):
        if entry["level"] == "SEVERE":
            problems.append(f"{CONSOLE}: {entry['message'][:200]}")
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(screenshots / f"{page.replace('/', '_')}_{width}.png"))
    print(f"{'FAIL' if problems else 'ok  '} {page} at {width} px: {facts['title']!r}, {facts['math']} math, "
          f"{facts['images']} images, {len(facts['colab'])} Colab links")
    for problem in problems:
        print(f"     - {problem}")
    return problems


def fixture_expectations() -> dict[str, tuple[str | None, int]]:
    """Each fixture page: the kind of failure it must show (None: it must pass) and the width to load it at.

    A fixture names both in its <meta name="check-expects" content="KIND"> and
    <meta name="check-width" content="390">; good.html expects nothing at every width.
    """
    expected = {}
    for path in sorted(FIXTURES.glob("*.html")):
        html = path.read_text(encoding="utf-8")
        kind = re.search(r'<meta name="check-expects" content="([^"]*)">', html)
        width = re.search(r'<meta name="check-width" content="(\d+)">', html)
        expected[path.stem] = (kind.group(1) if kind else None, int(width.group(1)) if width else WIDTHS[0])
    return expected


def serve_fixtures():
    """Serve the fixture pages with the MathJax that the book ships (sphinx-mathjax-offline's copy)."""
    import sphinx

    folder = Path(tempfile.mkdtemp(prefix="check-pages-fixtures-"))
    for path in [*FIXTURES.glob("*.html"), *FIXTURES.glob("*.svg")]:
        shutil.copy(path, folder / path.name)
    mathjax = Path(sphinx.__file__).resolve().parent.parent / "sphinx-mathjax-offline" / "static" / "mathjax"
    (folder / "_static").mkdir()
    (folder / "_static" / "mathjax").symlink_to(mathjax)
    server, base = start_server(folder)
    return server, base, folder


def self_test(browser) -> list[str]:
    """Run the check on its fixtures; return what went wrong (a defect missed, or a clean page failed)."""
    server, base, folder = serve_fixtures()
    wrong = []
    try:
        for name, (kind, width) in fixture_expectations().items():
            for w in (WIDTHS if kind is None else (width,)):
                problems = check_page(browser, base, name, None, w)
                if kind is None and problems:
                    wrong.append(f"fixture {name} at {w} px should pass, got {problems}")
                elif kind is not None and not any(p.startswith(kind) for p in problems):
                    wrong.append(f"fixture {name} at {w} px should fail with {kind!r}, got {problems}")
    finally:
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    return wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="comma-separated, in px")
    parser.add_argument("--screenshots", type=Path, default=None)
    parser.add_argument("--no-self-test", action="store_true", help="skip the fixture pages")
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    pages = pages_in_toc()
    missing = [p for p in pages if not (args.html / f"{p}.html").exists()]
    if missing:
        sys.exit(f"The built book is missing or incomplete in {args.html} (no {missing[0]}.html): run ./dev book first")
    browser = open_browser()
    server, base = start_server(args.html)
    try:
        if not args.no_self_test:
            print("The check on its fixture pages (each must fail with its one defect, good.html must pass):")
            wrong = self_test(browser)
            if wrong:
                print("\n".join(["The check itself is broken:"] + wrong))
                return 1
            print("The book:")
        failed = [(page, w) for page in pages for w in widths if check_page(browser, base, page, args.screenshots, w)]
    finally:
        browser.quit()
        server.shutdown()
    print(f"{len(pages) * len(widths) - len(failed)} page views passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
