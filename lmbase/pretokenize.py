"""GPT-2's pre-tokenization: the regex that cuts text into words before BPE sees it.

GPT-2 (Radford et al., 2019) splits text with

    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+

so that merges never cross a word, a number or a run of punctuation, and a space stays glued
to the word after it (``" world"``). Python's own ``re`` has no ``\\p{L}`` (letter) or
``\\p{N}`` (number), and its ``\\s`` also matches the control characters U+001C..U+001F, which
GPT-2's ``\\s`` (Unicode White_Space) does not. So this module builds the three classes from
``unicodedata`` once (about a third of a second) and compiles the same pattern for ``re``:

- letter: general category L* (Lu, Ll, Lt, Lm, Lo),
- number: general category N* (Nd, Nl, No),
- space: U+0009..U+000D, U+0085 and general category Z* (the White_Space property).

The answers are those of the Unicode version Python ships (``unicodedata.unidata_version``);
characters assigned by a later version may be classed differently by other libraries.

Special tokens (``"<|endoftext|>"``) are cut out before the regex runs, so they are never
split or merged: :func:`split_special` does that.
"""

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator


def _class_of_categories(prefixes: tuple[str, ...], extra: Iterable[int] = ()) -> str:
    """A ``re`` character class body (no brackets) of every code point whose category starts with a prefix."""
    members = set(extra)
    members.update(cp for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp))[0] in prefixes)
    ranges = []
    start = previous = None
    for cp in sorted(members):
        if previous is not None and cp == previous + 1:
            previous = cp
            continue
        if start is not None:
            ranges.append((start, previous))
        start = previous = cp
    ranges.append((start, previous))

    def char(cp: int) -> str:
        return f"\\U{cp:08x}"

    return "".join(char(a) if a == b else f"{char(a)}-{char(b)}" for a, b in ranges)


@functools.cache
def unicode_classes() -> dict[str, str]:
    """The bodies of GPT-2's three character classes for ``re``: ``letter``, ``number``, ``space``."""
    return {
        "letter": _class_of_categories(("L",)),
        "number": _class_of_categories(("N",)),
        "space": _class_of_categories(("Z",), extra=[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85]),
    }


@functools.cache
def gpt2_pattern() -> re.Pattern:
    """GPT-2's pre-tokenization regex, compiled for Python's ``re`` (see the module docstring)."""
    c = unicode_classes()
    L, N, S = c["letter"], c["number"], c["space"]
    return re.compile(
        rf"""'s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^{S}{L}{N}]+|[{S}]+(?![^{S}])|[{S}]+"""
    )


def split_words(text: str) -> list[str]:
    """GPT-2's pre-tokens of ``text``: ``"Hello  world"`` -> ``["Hello", " ", " world"]``.

    The pieces concatenate back to ``text`` exactly (every character is in some piece).
    """
    return gpt2_pattern().findall(text)


def split_special(text: str, specials: Iterable[str]) -> Iterator[tuple[str, bool]]:
    """Cut ``text`` at every occurrence of a special token: yields ``(piece, is_special)``.

    Longer special tokens win when two start at the same place; ordinary pieces may be empty
    and are skipped.
    """
    specials = sorted(set(specials), key=len, reverse=True)
    if not specials:
        if text:
            yield text, False
        return
    finder = re.compile("|".join(re.escape(s) for s in specials))
    start = 0
    for match in finder.finditer(text):
        if match.start() > start:
            yield text[start : match.start()], False
        yield match.group(), True
        start = match.end()
    if start < len(text):
        yield text[start:], False


def safe_cut(text: str, specials: Iterable[str] = ()) -> int:
    """The last position where ``text`` can be cut without changing its pre-tokens, or 0.

    Used to stream a long file: the pre-tokens of ``text[:p]`` followed by those of
    ``text[p:] + more`` are those of ``text + more`` when ``text[p - 1]`` is a newline and both
    ``text[p - 2]`` and ``text[p]`` are not whitespace. Why: no match of the regex contains
    both whitespace and the non-space after it except ``" ?..."``, which only takes a space;
    and a lone newline followed by a non-space is its own pre-token either way. The cut must
    also not fall inside a special token.
    """
    specials = list(specials)
    p = text.rfind("\n", 0, len(text) - 1)
    while p >= 1:
        cut = p + 1
        # str.isspace() is a superset of GPT-2's whitespace class, so this errs on the safe side.
        if not text[p - 1].isspace() and not text[cut].isspace():
            if not any(_crosses(text, s, cut) for s in specials):
                return cut
        p = text.rfind("\n", 0, p)
    return 0


def _crosses(text: str, special: str, cut: int) -> bool:
    """True when an occurrence of ``special`` starts before ``cut`` and ends after it."""
    lo = max(0, cut - len(special) + 1)
    i = text.find(special, lo, cut + len(special) - 1)
    while i != -1 and i < cut:
        if i + len(special) > cut:
            return True
        i = text.find(special, i + 1, cut + len(special) - 1)
    return False


def require_text(text, who: str = "encode") -> str:
    """``text`` itself if it is a str; otherwise a TypeError that names the fix (bytes are the usual slip)."""
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        raise TypeError(
            f"{who} takes text (a str), got {type(text).__name__} of length {len(text)}: decode it first, "
            f"e.g. data.decode('utf-8')"
        )
    raise TypeError(f"{who} takes text (a str), got a {type(text).__name__}: pass the text itself")
