"""A character-level tokenizer: one token per distinct character of a training text."""

from collections.abc import Iterable

import numpy as np

from .pretokenize import require_text


class CharTokenizer:
    """Maps each character of a fixed alphabet to an id, in sorted order of the characters."""

    def __init__(self, alphabet: Iterable[str]):
        chars = sorted(set(alphabet))
        if not chars:
            raise ValueError("the alphabet is empty: build the tokenizer from a non-empty text")
        if any(len(c) != 1 for c in chars):
            raise ValueError("the alphabet must be single characters, e.g. CharTokenizer('abc')")
        self.chars = chars
        self.id_of = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """The tokenizer whose vocabulary is every distinct character of ``text``."""
        if not text:
            raise ValueError("the text is empty: a character vocabulary needs at least one character")
        return cls(text)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``, shape ``(len(text),)``, dtype int64."""
        require_text(text, "encode")
        try:
            return np.fromiter((self.id_of[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as error:
            c = error.args[0]
            raise ValueError(
                f"character {c!r} (at position {text.index(c)}) is not in this tokenizer's "
                f"{self.vocab_size}-character vocabulary: build the tokenizer from a text that "
                f"contains it, or remove it from the input"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of token ids."""
        ids = [int(i) for i in np.asarray(ids).reshape(-1)]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(
                f"token id {bad[0]} is outside the vocabulary [0, {self.vocab_size}): "
                f"decode ids produced by this tokenizer"
            )
        return "".join(self.chars[i] for i in ids)
