"""Open every page of the built book in headless Chromium and check what a reader sees.

    python tools/check_pages.py [--html _build/html] [--screenshots FOLDER]

The built HTML is served on localhost and each page in _toc.yml is loaded. A page fails when
- its math is left untypeset (a math element without MathJax output, or a TeX error),
- an image is broken (not loaded, or zero size),
- it is a chapter and has no working "open in Colab" link to its .ipynb,
- the browser console logs an error (a JavaScript exception or a resource that failed to load).
Needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver).
"""

import argparse
import functools
import http.server
import shutil
import sys
import threading
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const settle = () => setTimeout(() => done(true), 200);
if (!window.MathJax) { done(false); return; }
const ready = () => MathJax.startup && MathJax.startup.promise;
const wait = (tries) => ready() ? MathJax.startup.promise.then(settle, settle)
                               : (tries > 0 ? setTimeout(() => wait(tries - 1), 100) : done(false));
wait(100);
"""

PAGE_FACTS = """
const maths = Array.from(document.querySelectorAll('.math'));
return {
  title: document.title,
  math: maths.length,
  untypeset: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 60)),
  texErrors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent.slice(0, 60)),
  images: document.images.length,
  broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
  colab: Array.from(document.querySelectorAll('a')).map(a => a.href).filter(h => h.startsWith('https://colab.research.google.com/')),
};
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


def open_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        sys.exit(
            "Chromium or its driver is missing (looked for chromium and chromedriver on PATH). "
            "Install Debian's packages: sudo apt-get install chromium chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def check_page(browser, base: str, page: str, screenshots: Path | None) -> list[str]:
    browser.get(f"{base}/{page}.html")
    problems = []
    mathjax_loaded = browser.execute_async_script(WAIT_FOR_MATHJAX)
    facts = browser.execute_script(PAGE_FACTS)
    if facts["math"] and not mathjax_loaded:
        problems.append("the page has math but MathJax did not load")
    if facts["untypeset"]:
        problems.append(f"{len(facts['untypeset'])} math elements left untypeset, e.g. {facts['untypeset'][0]!r}")
    if facts["texErrors"]:
        problems.append(f"TeX errors: {facts['texErrors'][:3]}")
    if facts["broken"]:
        problems.append(f"broken images: {facts['broken'][:3]}")
    if page.startswith("book/"):
        notebook = f"{page}.ipynb"
        if not any(link.endswith(f"/blob/main/{notebook}") for link in facts["colab"]):
            problems.append(f"no Colab link to {notebook} (found {facts['colab']})")
        if not (ROOT / notebook).exists():
            problems.append(f"the Colab link points to {notebook}, which is not in the repository")
    for entry in browser.get_log("browser"):
        if entry["level"] == "SEVERE":
            problems.append(f"console error: {entry['message'][:200]}")
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(screenshots / f"{page.replace('/', '_')}.png"))
    print(f"{'FAIL' if problems else 'ok  '} {page}: {facts['title']!r}, {facts['math']} math, "
          f"{facts['images']} images, {len(facts['colab'])} Colab links")
    for problem in problems:
        print(f"     - {problem}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args()
    pages = pages_in_toc()
    missing = [p for p in pages if not (args.html / f"{p}.html").exists()]
    if missing:
        sys.exit(f"The built book is missing or incomplete in {args.html} (no {missing[0]}.html): run ./dev book first")
    server, base = start_server(args.html)
    browser = open_browser()
    try:
        failed = [page for page in pages if check_page(browser, base, page, args.screenshots)]
    finally:
        browser.quit()
        server.shutdown()
    print(f"{len(pages) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
