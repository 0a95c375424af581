"""The claims page quotes no measured number that nothing checks: each claim whose ``measured``
text gives the course's numbers has a ``value`` that check_claim compares, and each value is
compared by a chapter or a test."""

import re
from pathlib import Path

from lmbase.claims import CLAIMS_FILE, Claim, load_claims, measured_numbers, unchecked_measurements

ROOT = Path(__file__).resolve().parents[2]


def claim(measured: str, **fields) -> Claim:
    base = dict(id="x", seed="BabyGPT", chapter="06_babygpt", claim="c", published="p", verdict="corrected",
                why="w", command="c")
    return Claim(measured=measured, **{**base, **fields})


def test_every_claim_that_quotes_measured_numbers_has_a_value_to_check():
    claims = {c.id: c for c in load_claims()}
    unchecked = unchecked_measurements(list(claims.values()))
    assert not unchecked, "\n".join([
        f"{len(unchecked)} claims in {CLAIMS_FILE.name} quote measured numbers that no check_claim compares:",
        *(f"  {name} (book/{claims[name].chapter}.md): {', '.join(numbers)}" for name, numbers in unchecked.items()),
        "give each a `value:` (and `tolerance:`) that its chapter passes to check_claim(id, what it measured); "
        "numbers read rather than measured name where with `source:`; a claim that was not re-run says so: "
        "its `measured` begins with \"not re-run\".",
    ])


def test_a_typed_in_number_is_found_and_names_and_chapters_are_not_numbers():
    typed = claim("float16 on micro_gpt_4 (chapter 6) trains to 2.119 after 1,500 steps, 0.5x the time")
    assert measured_numbers(typed) == ["2.119", "1,500", "0.5x"]
    assert unchecked_measurements([typed]) == {"x": ["2.119", "1,500", "0.5x"]}
    assert unchecked_measurements([claim("2.119", value=2.119)]) == {}
    assert unchecked_measurements([claim("2.119 in the seed's notebook", source="its printed output")]) == {}
    assert unchecked_measurements([claim("not re-run: the seed trained with batch 128")]) == {}
    assert unchecked_measurements([claim("a module that runs, tested in chapter 4")]) == {}


def test_every_value_is_compared_by_a_chapter_or_a_test():
    sources = [p.read_text(encoding="utf-8") for p in [*ROOT.glob("book/*.md"), *ROOT.glob("tests/**/*.py")]]
    unused = [c.id for c in load_claims() if c.value is not None and not any(
        re.search(r"check_claim\(\s*[\"']" + re.escape(c.id) + r"[\"']", text) for text in sources)]
    assert not unused, f"these claims have a value that no chapter or test passes to check_claim: {unused}"
