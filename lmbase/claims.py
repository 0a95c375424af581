"""The seeds' claims, checked: one data file that the claims page renders and the chapters check.

``seed_claims.yml`` (beside this module, so it ships with the package and works on Colab)
lists every number the two seed projects' READMEs publish, beside what the course measured,
the command that measured it and a verdict. A chapter that measures a claim calls
:func:`check_claim` with its own result, so the page can never quote a number the code no
longer reproduces.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

CLAIMS_FILE = Path(__file__).with_name("seed_claims.yml")
# The chapters' sources, present in a clone of the repository (not in an installed package).
BOOK = Path(__file__).resolve().parent.parent / "book"
VERDICTS = ("reproduced", "corrected", "cannot be re-run here")
SEEDS = ("microGPT", "BabyGPT")


@dataclass(frozen=True)
class Claim:
    """One published claim of a seed project and what the course found.

    ``value`` is the number the course measured, when there is one a chapter reproduces;
    ``tolerance`` is the absolute difference a re-measurement may show. ``source`` names where
    the numbers of ``measured`` come from when they are read, not measured (a seed's printed
    output, a paper): those have no value to check.
    """

    id: str
    seed: str
    chapter: str
    claim: str
    published: str
    measured: str
    verdict: str
    why: str
    command: str
    value: float | None = None
    tolerance: float = 0.0
    source: str | None = None


def load_claims(path: Path = CLAIMS_FILE) -> list[Claim]:
    """Every claim in the file, in its order, each checked for a known seed and verdict."""
    rows = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    claims = [Claim(**row) for row in rows]
    ids = [c.id for c in claims]
    for claim in claims:
        if claim.verdict not in VERDICTS:
            raise ValueError(f"claim {claim.id!r} has verdict {claim.verdict!r}; use one of {VERDICTS}")
        if claim.seed not in SEEDS:
            raise ValueError(f"claim {claim.id!r} has seed {claim.seed!r}; use one of {SEEDS}")
        if ids.count(claim.id) > 1:
            raise ValueError(f"claim id {claim.id!r} appears {ids.count(claim.id)} times in {path}")
    return claims


def get_claim(claim_id: str, path: Path = CLAIMS_FILE) -> Claim:
    """The claim with this id."""
    for claim in load_claims(path):
        if claim.id == claim_id:
            return claim
    raise KeyError(f"no claim {claim_id!r} in {path}")


def check_claim(claim_id: str, measured: float, path: Path = CLAIMS_FILE) -> Claim:
    """Assert that a chapter's measurement equals the value the claims page quotes.

    Raises AssertionError naming both numbers when they differ by more than the claim's
    tolerance, so that a stale page fails the chapter's test.
    """
    claim = get_claim(claim_id, path)
    if claim.value is None:
        raise ValueError(f"claim {claim_id!r} records no value to check; add `value:` to {path}")
    if abs(measured - claim.value) > claim.tolerance:
        raise AssertionError(
            f"claim {claim_id!r}: the page quotes {claim.value}, this run measured {measured} "
            f"(tolerance {claim.tolerance}); fix the code or update `value` and `measured` in {path}"
        )
    return claim


# A number in prose: digits not inside a name (float16, micro_gpt_4, stories15M), with their commas and decimals.
NUMBER = re.compile(r"(?<![\w.])\d(?:[\d,]*\d)?(?:\.\d+)?(?:e-?\d+)?x?(?!\w)")
CHAPTER_REFERENCE = re.compile(r"\bchapters? \d+")


def measured_numbers(claim: Claim) -> list[str]:
    """The numbers the claims page quotes as what the course measured for ``claim``: those in
    its ``measured`` text, references to chapters left out. None when the text says the claim
    was not re-run (the numbers it gives are then the seed's settings) or when ``source`` says
    where they were read."""
    text = claim.measured.strip()
    if claim.source or text.lower().startswith("not re-run"):
        return []
    return NUMBER.findall(CHAPTER_REFERENCE.sub("", text))


def unchecked_measurements(claims: list[Claim]) -> dict[str, list[str]]:
    """Each claim whose page quotes measured numbers with no ``value`` for :func:`check_claim`:
    id -> the numbers, for a test to name."""
    return {c.id: measured_numbers(c) for c in claims if c.value is None and measured_numbers(c)}


def chapter_title(chapter: str, book: Path = BOOK) -> str:
    """The title a chapter's page shows ("1. N-gram language models"): its source's first heading.

    Falls back to the file id ("01_ngram") where the sources are not at hand, as on Colab.
    """
    source = Path(book) / f"{chapter}.md"
    if not source.exists():
        return chapter
    text = source.read_text(encoding="utf-8")
    if text.startswith("---"):
        text = text.split("\n---", 1)[-1]  # the front matter holds no title
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return chapter


def claims_table(claims: list[Claim], book: Path = BOOK) -> str:
    """A Markdown table of the claims: the claim, its published number, what was measured, the verdict.

    Each verdict links to the chapter that measures it, by the chapter's title.
    """
    def cell(text: str) -> str:
        return " ".join(str(text).split()).replace("|", "\\|")

    lines = [
        "| the seed's claim | published | the course measured | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for c in claims:
        where = f" ([{cell(chapter_title(c.chapter, book))}]({c.chapter}.md))" if c.chapter else ""
        lines.append(
            f"| **{c.seed}**: {cell(c.claim)} | {cell(c.published)} | {cell(c.measured)} "
            f"| **{c.verdict}**{where} |"
        )
    return "\n".join(lines)
