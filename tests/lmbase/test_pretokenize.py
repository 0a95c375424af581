"""GPT-2's pre-tokenization regex, compiled for `re`, against Hugging Face `tokenizers`' ByteLevel one."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import pre_tokenizers

from lmbase.byte_alphabet import bytes_to_text, text_to_bytes
from lmbase.pretokenize import safe_cut, split_special, split_words

REFERENCE = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)

# Characters both sides agree exist: no surrogates (Rust strings cannot hold them) and no code
# points unassigned in Python's Unicode database (a newer Unicode may class them differently).
unicode_text = st.text(st.characters(exclude_categories=("Cs", "Cn")), max_size=60)
tricky_text = st.text(st.sampled_from(list("ab1 '\n\t\x1c\u3000\u00a0.é²sltmdrev")), max_size=40)


def reference_words(text: str) -> list[str]:
    return [text_to_bytes(piece).decode("utf-8") for piece, _ in REFERENCE.pre_tokenize_str(text)]


HARD = [
    "",
    "Hello  world",
    "I'm don't we'll they're I'VE it's'",
    "foo \nbar\n\n  baz   ",
    "x²³ Ⅻ ½ 123 4.5",
    "\x1c\x1dab \x1c \x85\u2028\u3000",
    "héllo 日本語 🙂👍🏽 a\u0301e\u0308",
    "   ",
]


@pytest.mark.parametrize("text", HARD)
def test_split_words_matches_tokenizers_on_hard_strings(text):
    assert split_words(text) == reference_words(text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(unicode_text, tricky_text))
def test_split_words_matches_tokenizers_on_any_text(text):
    words = split_words(text)
    assert "".join(words) == text
    assert words == reference_words(text)


def test_whitespace_class_is_unicode_white_space_not_pythons():
    # Python's \s matches U+001C; GPT-2's (and tokenizers') does not, so it is punctuation here.
    assert split_words("a\x1c b") == ["a", "\x1c", " b"]
    assert split_words("a\u3000b") == ["a", "\u3000", "b"]


def test_split_special_cuts_out_every_special_and_prefers_the_longest():
    pieces = list(split_special("a<|x|>b<|xy|><|x|>", ["<|x|>", "<|xy|>"]))
    assert pieces == [("a", False), ("<|x|>", True), ("b", False), ("<|xy|>", True), ("<|x|>", True)]
    assert list(split_special("", ["<|x|>"])) == []
    assert list(split_special("abc", [])) == [("abc", False)]


@settings(max_examples=300, deadline=None)
@given(tricky_text, st.integers(0, 40))
def test_cutting_at_safe_cut_never_changes_the_words(text, extra):
    full = text + "z<|e|>" * (extra % 3) + text[:extra]
    cut = safe_cut(full[: len(text)], ["<|e|>"])
    if cut:
        assert full[cut - 1] == "\n" and not full[cut].isspace() and not full[cut - 2].isspace()
    assert split_words(full[:cut]) + split_words(full[cut:]) == split_words(full)


def test_safe_cut_refuses_a_cut_inside_a_special_token():
    text = "word\n<|a\nb|>x"
    assert safe_cut(text, []) == len("word\n<|a\n")
    assert safe_cut(text, ["<|a\nb|>"]) == len("word\n")
    assert safe_cut("<|a\nb|>x", ["<|a\nb|>"]) == 0


def test_byte_alphabet_round_trips_every_byte_and_shows_space_as_G():
    every = bytes(range(256))
    assert text_to_bytes(bytes_to_text(every)) == every
    assert bytes_to_text(b" the\n") == "Ġthe" + "Ċ"
    with pytest.raises(ValueError, match="not in GPT-2's byte alphabet"):
        text_to_bytes(" ")
