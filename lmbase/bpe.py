"""Byte-level BPE: encode and decode with a list of merges, as GPT-2 does.

A text becomes ids in three steps:

1. special tokens (``"<|endoftext|>"``) are cut out and become their own ids, never split;
2. the rest is cut into words by GPT-2's regex (:mod:`lmbase.pretokenize`);
3. each word's UTF-8 bytes start as one token per byte, and the merge with the best (lowest)
   rank among adjacent pairs is applied everywhere in the word, again and again, until no
   adjacent pair has a merge (Sennrich et al., 2016; Radford et al., 2019).

Because every byte is a token, no text is ever unknown: any string encodes, and decoding
joins the tokens' bytes and reads them as UTF-8.

Lone surrogates (``"\\ud800"``, which Python strings can hold but UTF-8 cannot) are encoded
as the three bytes their code point would take (``ED A0 80``, "surrogatepass"), and decoded
back, so that ``decode(encode(s)) == s`` for every Python string. Byte sequences that are
not UTF-8 (a token sequence cut in the middle of a character) decode to U+FFFD, as GPT-2's
``errors="replace"`` does.

The same class serves the tokenizer we train (:mod:`lmbase.bpe_train`, ids 0..255 are the
bytes, merge ``k`` makes id ``256 + k``) and GPT-2's own (:mod:`lmbase.gpt2_tokenizer`,
whose ids follow ``vocab.json``).
"""

import codecs
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .byte_alphabet import bytes_to_text, text_to_bytes
from .pretokenize import require_text, safe_cut, split_special, split_words

FILE_FORMAT = "lmbase-bpe"
FILE_VERSION = 1
_CACHE_LIMIT = 200_000  # words remembered by the encoder; bounds memory on endless streams


def _surrogatepass_or_replace(error: UnicodeDecodeError):
    """Decode error handler: a UTF-8-encoded surrogate becomes that surrogate, anything else U+FFFD."""
    chunk = error.object[error.start : error.start + 3]
    if len(chunk) == 3 and chunk[0] == 0xED and 0xA0 <= chunk[1] <= 0xBF and 0x80 <= chunk[2] <= 0xBF:
        return chunk.decode("utf-8", "surrogatepass"), error.start + 3
    return "\ufffd", error.end


codecs.register_error("lmbase-surrogatepass-or-replace", _surrogatepass_or_replace)


class BytePairTokenizer:
    """Byte-level BPE with special tokens.

    ``token_bytes[i]`` is the byte string of ordinary token ``i`` (all 256 single bytes must be
    among them); ``merges`` lists ``(left_id, right_id)`` pairs, best first, each making the
    token whose bytes are the two joined; ``special_tokens`` maps strings such as
    ``"<|endoftext|>"`` to ids above the ordinary ones.
    """

    def __init__(
        self,
        token_bytes: list[bytes],
        merges: list[tuple[int, int]],
        special_tokens: dict[str, int] | None = None,
    ):
        self.token_bytes = [bytes(t) for t in token_bytes]
        self.merges = [(int(a), int(b)) for a, b in merges]
        self.special_tokens = dict(special_tokens or {})
        id_of: dict[bytes, int] = {}
        for i, t in enumerate(self.token_bytes):
            id_of.setdefault(t, i)  # the first id wins if two merges ever spell the same bytes
        missing = [b for b in range(256) if bytes([b]) not in id_of]
        if missing:
            raise ValueError(
                f"byte {missing[0]:#04x} has no token ({len(missing)} of the 256 bytes are missing): "
                f"a byte-level vocabulary must hold every single byte"
            )
        self._byte_ids = [id_of[bytes([b])] for b in range(256)]
        self._merge_of = {}
        n = len(self.token_bytes)
        for rank, (a, b) in enumerate(self.merges):
            if not (0 <= a < n and 0 <= b < n):
                raise ValueError(f"merge {rank} ({a}, {b}) names an id outside [0, {n})")
            joined = self.token_bytes[a] + self.token_bytes[b]
            if joined not in id_of:
                raise ValueError(f"merge {rank} makes {joined!r}, which is not in the vocabulary")
            self._merge_of[(a, b)] = (rank, id_of[joined])
        for name, i in self.special_tokens.items():
            if not name:
                raise ValueError("a special token cannot be the empty string")
            if i < n:
                raise ValueError(
                    f"special token {name!r} has id {i}, which an ordinary token already uses: "
                    f"give special tokens ids from {n} up"
                )
        if len(set(self.special_tokens.values())) != len(self.special_tokens):
            raise ValueError(f"two special tokens share an id: {self.special_tokens}")
        self._special_of_id = {i: name for name, i in self.special_tokens.items()}
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        """Ordinary plus special tokens: one more than the largest id."""
        return max([len(self.token_bytes) - 1, *self.special_tokens.values()]) + 1

    # -- encoding ---------------------------------------------------------------------------

    def encode_word(self, word: str) -> list[int]:
        """The ids of one pre-token: its bytes, merged by rank until no merge applies."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        byte_ids = self._byte_ids
        ids = [byte_ids[b] for b in word.encode("utf-8", "surrogatepass")]
        merge_of = self._merge_of
        while len(ids) > 1:
            best = None
            for pair in zip(ids, ids[1:]):
                found = merge_of.get(pair)
                if found is not None and (best is None or found[0] < best[1][0]):
                    best = (pair, found)
            if best is None:
                break
            (a, b), (_, new_id) = best
            merged, i = [], 0
            while i < len(ids):
                if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
                    merged.append(new_id)
                    i += 2
                else:
                    merged.append(ids[i])
                    i += 1
            ids = merged
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[word] = ids
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Ids of ``text`` with no special tokens recognised (``"<|endoftext|>"`` is just text)."""
        require_text(text, "encode_ordinary")
        out: list[int] = []
        encode_word = self.encode_word
        for word in split_words(text):
            out.extend(encode_word(word))
        return out

    def encode(self, text: str, allowed_special: str | Iterable[str] = "all") -> np.ndarray:
        """Token ids of ``text``, shape ``(n_tokens,)``, dtype int64.

        ``allowed_special`` says which special tokens written in the text become their ids:
        ``"all"`` (the default, as Hugging Face ``tokenizers`` does), ``"none"`` (they are
        encoded as ordinary text) or a collection of their names.
        """
        require_text(text, "encode")
        specials = self._allowed(allowed_special)
        out: list[int] = []
        for piece, is_special in split_special(text, specials):
            if is_special:
                out.append(self.special_tokens[piece])
            else:
                out.extend(self.encode_ordinary(piece))
        return np.asarray(out, dtype=np.int64)

    def _allowed(self, allowed_special) -> list[str]:
        if allowed_special == "all":
            return list(self.special_tokens)
        if allowed_special == "none":
            return []
        if isinstance(allowed_special, str):
            allowed_special = [allowed_special]
        names = list(allowed_special)
        for name in names:
            if name not in self.special_tokens:
                raise ValueError(
                    f"unknown special token {name!r}: this tokenizer's special tokens are "
                    f"{sorted(self.special_tokens)}; pass one of those, 'all' or 'none', or train "
                    f"with special_tokens=[{name!r}]"
                )
        return names

    def special_token_id(self, name: str) -> int:
        """The id of a special token, e.g. ``special_token_id("<|endoftext|>")``."""
        if name not in self.special_tokens:
            raise ValueError(
                f"unknown special token {name!r}: this tokenizer's special tokens are "
                f"{sorted(self.special_tokens)}"
            )
        return self.special_tokens[name]

    # -- decoding ---------------------------------------------------------------------------

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes a sequence of ids stands for (special tokens as their UTF-8 text)."""
        n = len(self.token_bytes)
        parts = []
        for i in np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids).reshape(-1).tolist():
            if 0 <= i < n:
                parts.append(self.token_bytes[i])
            elif i in self._special_of_id:
                parts.append(self._special_of_id[i].encode("utf-8"))
            else:
                raise ValueError(
                    f"token id {i} is outside this tokenizer's vocabulary (ordinary ids [0, {n}), "
                    f"special ids {sorted(self._special_of_id)}): decode ids this tokenizer produced"
                )
        return b"".join(parts)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of ids; bytes that are not UTF-8 become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", "lmbase-surrogatepass-or-replace")

    # -- streaming a file -------------------------------------------------------------------

    def iter_encode_file(self, path: str | Path, chunk_chars: int = 1 << 20) -> Iterator[np.ndarray]:
        """Encode a UTF-8 text file piece by piece: yields int64 id arrays whose concatenation
        equals ``encode(whole text)``.

        Memory stays near ``chunk_chars`` characters plus the longest line: each chunk is cut
        at the last newline that cannot change the pre-tokens (:func:`~lmbase.pretokenize.safe_cut`)
        and the tail waits for the next chunk.
        """
        if chunk_chars < 1:
            raise ValueError(f"chunk_chars={chunk_chars} must be at least 1, e.g. 1 << 20")
        specials = list(self.special_tokens)
        pending = ""
        with open(path, encoding="utf-8", newline="") as f:
            while chunk := f.read(chunk_chars):
                pending += chunk
                cut = safe_cut(pending, specials)
                if cut:
                    yield self.encode(pending[:cut])
                    pending = pending[cut:]
        if pending:
            yield self.encode(pending)

    def encode_file(self, path: str | Path, out_path: str | Path, chunk_chars: int = 1 << 20) -> int:
        """Encode a text file into a flat binary file of ids (uint16 when they fit, else uint32).

        Returns the number of tokens written; read them back with ``np.fromfile(out_path, dtype)``
        where ``dtype`` is :meth:`id_dtype`.
        """
        dtype = self.id_dtype()
        count = 0
        with open(out_path, "wb") as out:
            for ids in self.iter_encode_file(path, chunk_chars):
                ids.astype(dtype).tofile(out)
                count += len(ids)
        return count

    def id_dtype(self) -> np.dtype:
        """The smallest unsigned dtype that holds every id: uint16 up to 65,536 tokens."""
        return np.dtype(np.uint16 if self.vocab_size <= 1 << 16 else np.uint32)

    # -- saving and loading -----------------------------------------------------------------

    def to_dict(self) -> dict:
        """A JSON-ready description: tokens in GPT-2's printable byte alphabet, merges as id pairs."""
        return {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "pattern": "gpt2",
            "vocab": [bytes_to_text(t) for t in self.token_bytes],
            "merges": [list(m) for m in self.merges],
            "special_tokens": self.special_tokens,
        }

    def save(self, path: str | Path) -> None:
        """Write the tokenizer as readable JSON (one token and one merge a line)."""
        d = self.to_dict()
        lines = ["{", f'  "format": {json.dumps(d["format"])},', f'  "version": {d["version"]},']
        lines.append(f'  "pattern": {json.dumps(d["pattern"])},')
        lines.append(f'  "special_tokens": {json.dumps(d["special_tokens"], ensure_ascii=False)},')
        lines.append('  "vocab": [')
        lines.append(",\n".join("    " + json.dumps(t, ensure_ascii=False) for t in d["vocab"]))
        lines.append("  ],")
        lines.append('  "merges": [')
        lines.append(",\n".join(f"    [{a}, {b}]" for a, b in d["merges"]))
        lines.append("  ]")
        lines.append("}")
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "BytePairTokenizer":
        """Read a file written by :meth:`save`; a corrupt or truncated file raises ValueError."""
        path = Path(path)
        fix = "re-create it with BytePairTokenizer.save() or train_bpe() and save again"
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path} is not a readable tokenizer file (corrupt or truncated: {error}); {fix}") from None
        if not isinstance(d, dict) or d.get("format") != FILE_FORMAT:
            raise ValueError(f"{path} is not an {FILE_FORMAT} file (its 'format' is not {FILE_FORMAT!r}); {fix}")
        if d.get("version") != FILE_VERSION:
            raise ValueError(f"{path} has version {d.get('version')!r}; this code reads version {FILE_VERSION}")
        try:
            token_bytes = [text_to_bytes(t) for t in d["vocab"]]
            merges = [tuple(m) for m in d["merges"]]
            special = {str(k): int(v) for k, v in d["special_tokens"].items()}
            if any(len(m) != 2 for m in merges):
                raise ValueError("a merge is not a pair of ids")
            return cls(token_bytes, merges, special)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path} is corrupt: {error}; {fix}") from None

    def __repr__(self) -> str:
        return (
            f"BytePairTokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"special_tokens={sorted(self.special_tokens)})"
        )
