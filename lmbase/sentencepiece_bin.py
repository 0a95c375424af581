"""llama2.c's ``tokenizer.bin``: a SentencePiece BPE vocabulary in a flat file, read and written.

The format (Karpathy's llama2.c, ``tokenizer.py`` writes it, ``run.c`` reads it), little-endian:

    uint32 max_token_length                      longest piece, in bytes
    then, for each of the vocab_size pieces, in id order:
        float32 score                            SentencePiece's score of the piece
        uint32  length                           its length in bytes
        bytes   piece                            its UTF-8 bytes

The file does not store how many pieces there are (llama2.c takes ``vocab_size`` from the
model), nor their types, so pieces are written so that the types can be read back:
SentencePiece's ``"▁"`` (U+2581, "a space starts here") is written as a space, the
begin/end-of-sentence pieces as ``"\\n<s>\\n"`` and ``"\\n</s>\\n"``, byte-fallback pieces stay
``"<0x41>"`` and ``"<unk>"`` stays as it is. (BabyGPT's exporter wrote byte pieces as the raw
byte itself; then ``"A"`` and ``"<0x41>"`` are the same bytes in the file and cannot be told
apart, so we keep llama2.c's text form, and the file round-trips exactly.)

:class:`Llama2cTokenizer` encodes as llama2.c does: a dummy-prefix space, each character a
piece (or its UTF-8 bytes as ``<0xNN>`` pieces when it has none), then the adjacent pair whose
joined piece has the highest score is merged, again and again (leftmost on ties). For a
SentencePiece **BPE** model that is exactly SentencePiece's own algorithm, so the ids agree;
for a **unigram** model (BabyGPT's) SentencePiece picks the most likely segmentation
(Viterbi) instead, and greedy merging can give other ids.
"""

import heapq
import re
import struct
from pathlib import Path

import numpy as np

from .pretokenize import require_text

SPACE_MARK = "\u2581"  # SentencePiece's "▁"
BOS_TEXT, EOS_TEXT, UNK_TEXT = "\n<s>\n", "\n</s>\n", "<unk>"
_BYTE_PIECE = re.compile(r"<0x([0-9A-F]{2})>")


class Llama2cTokenizer:
    """A SentencePiece-style BPE vocabulary: ``pieces[i]`` (with ``"▁"`` for a space) and ``scores[i]``.

    ``bos_id``/``eos_id`` are the begin/end-of-sentence ids, ``unk_id`` the unknown piece's
    (``None`` when there is none).
    """

    def __init__(
        self,
        pieces: list[str],
        scores: list[float],
        bos_id: int | None = 1,
        eos_id: int | None = 2,
        unk_id: int | None = 0,
    ):
        if len(pieces) != len(scores):
            raise ValueError(f"{len(pieces)} pieces but {len(scores)} scores: give one score per piece")
        n = len(pieces)
        for name, i in (("bos_id", bos_id), ("eos_id", eos_id), ("unk_id", unk_id)):
            if i is not None and not 0 <= i < n:
                raise ValueError(f"{name}={i} is outside the vocabulary [0, {n})")
        self.pieces = list(pieces)
        self.scores = [float(np.float32(s)) for s in scores]  # the file holds float32
        self.bos_id, self.eos_id, self.unk_id = bos_id, eos_id, unk_id
        self.byte_ids: dict[int, int] = {}
        self._normal: dict[str, tuple[float, int]] = {}
        for i, piece in enumerate(self.pieces):
            match = _BYTE_PIECE.fullmatch(piece)
            if match:
                self.byte_ids[int(match.group(1), 16)] = i
            elif i not in (bos_id, eos_id, unk_id):
                self._normal.setdefault(piece, (self.scores[i], i))

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    @classmethod
    def from_sentencepiece(cls, processor) -> "Llama2cTokenizer":
        """From a loaded ``sentencepiece.SentencePieceProcessor`` (duck-typed: lmbase never imports it)."""
        n = processor.get_piece_size()
        unk = processor.unk_id()
        return cls(
            [processor.id_to_piece(i) for i in range(n)],
            [processor.get_score(i) for i in range(n)],
            bos_id=processor.bos_id(),
            eos_id=processor.eos_id(),
            unk_id=unk if unk >= 0 else None,
        )

    # -- the file ---------------------------------------------------------------------------

    def _piece_bytes(self, i: int) -> bytes:
        if i == self.bos_id:
            return BOS_TEXT.encode()
        if i == self.eos_id:
            return EOS_TEXT.encode()
        return self.pieces[i].replace(SPACE_MARK, " ").encode("utf-8")

    def to_bytes(self) -> bytes:
        """The ``tokenizer.bin`` bytes of this vocabulary."""
        encoded = [self._piece_bytes(i) for i in range(self.vocab_size)]
        out = [struct.pack("<I", max(len(b) for b in encoded))]
        for b, score in zip(encoded, self.scores):
            out.append(struct.pack("<fI", score, len(b)))
            out.append(b)
        return b"".join(out)

    def write(self, path: str | Path) -> None:
        """Write ``tokenizer.bin``."""
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def read(cls, path: str | Path, vocab_size: int | None = None) -> "Llama2cTokenizer":
        """Read ``tokenizer.bin``; with ``vocab_size`` given, also check the piece count.

        A truncated or corrupt file raises ValueError naming the piece, the byte offset and the fix.
        """
        data = Path(path).read_bytes()
        fix = "write it again with Llama2cTokenizer.write() (or llama2.c's tokenizer.py --export)"
        if len(data) < 4:
            raise ValueError(f"{path} has {len(data)} bytes, fewer than the 4-byte header: it is truncated; {fix}")
        (max_len,) = struct.unpack_from("<I", data, 0)
        offset, pieces, scores = 4, [], []
        bos = eos = unk = None
        while offset < len(data):
            i = len(pieces)
            if offset + 8 > len(data):
                raise ValueError(f"{path}: piece {i} at byte {offset} is cut off (needs 8 header bytes, "
                                 f"{len(data) - offset} left): the file is truncated; {fix}")
            score, length = struct.unpack_from("<fI", data, offset)
            offset += 8
            if length > max_len:
                raise ValueError(f"{path}: piece {i} claims {length} bytes, more than the header's maximum "
                                 f"{max_len}: the file is corrupt; {fix}")
            if offset + length > len(data):
                raise ValueError(f"{path}: piece {i} at byte {offset} needs {length} bytes, "
                                 f"{len(data) - offset} left: the file is truncated; {fix}")
            raw = data[offset : offset + length]
            offset += length
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{path}: piece {i} ({raw!r}) is not UTF-8: the file is corrupt or is not a "
                                 f"tokenizer.bin from this exporter (BabyGPT's writes byte pieces raw); {fix}") from None
            if text == BOS_TEXT:
                bos, text = i, "<s>"
            elif text == EOS_TEXT:
                eos, text = i, "</s>"
            elif text == UNK_TEXT:
                unk = i
            else:
                text = text.replace(" ", SPACE_MARK)
            pieces.append(text)
            scores.append(score)
        if not pieces:
            raise ValueError(f"{path} holds a header but no pieces: it is truncated; {fix}")
        if vocab_size is not None and len(pieces) != vocab_size:
            raise ValueError(f"{path} holds {len(pieces)} pieces, not vocab_size={vocab_size}: it is truncated "
                             f"or belongs to another model; {fix}")
        return cls(pieces, scores, bos_id=bos, eos_id=eos, unk_id=unk)

    # -- encoding and decoding --------------------------------------------------------------

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> np.ndarray:
        """Ids of ``text`` as llama2.c (and SentencePiece BPE) give them, shape ``(n,)``, int64."""
        require_text(text, "encode")
        ids = []
        if text:
            ids = self._symbols(SPACE_MARK + text.replace(" ", SPACE_MARK))
            ids = self._merge(ids)
        if bos:
            ids = [self._require("bos_id", self.bos_id), *ids]
        if eos:
            ids = [*ids, self._require("eos_id", self.eos_id)]
        return np.asarray(ids, dtype=np.int64)

    def _require(self, name: str, value: int | None) -> int:
        if value is None:
            raise ValueError(f"this vocabulary has no {name}: encode with {name[:3]}=False")
        return value

    def _symbols(self, text: str) -> list[int]:
        out = []
        for ch in text:
            found = self._normal.get(ch)
            if found is not None:
                out.append(found[1])
                continue
            for b in ch.encode("utf-8", "surrogatepass"):
                if b in self.byte_ids:
                    out.append(self.byte_ids[b])
                elif self.unk_id is not None:
                    out.append(self.unk_id)
                    break
                else:
                    raise ValueError(f"character {ch!r} has no piece, no byte piece and there is no <unk>")
        return out

    def _merge(self, ids: list[int]) -> list[int]:
        """Merge the best-scoring adjacent pair until none joins into a piece (heap: O(n log n))."""
        pieces = [self.pieces[i] for i in ids]
        n = len(ids)
        left = list(range(-1, n - 1))
        right = list(range(1, n + 1))
        alive = [True] * n
        heap = []

        def push(i: int) -> None:
            j = right[i]
            if j < n:
                found = self._normal.get(pieces[i] + pieces[j])
                if found is not None:
                    heapq.heappush(heap, (-found[0], i, j, pieces[i], pieces[j]))

        for i in range(n - 1):
            push(i)
        while heap:
            _, i, j, pi, pj = heapq.heappop(heap)
            if not (alive[i] and alive[j] and right[i] == j and pieces[i] == pi and pieces[j] == pj):
                continue  # stale: one side was merged since this pair was pushed
            score, new_id = self._normal[pi + pj]
            pieces[i], ids[i] = pi + pj, new_id
            alive[j] = False
            right[i] = right[j]
            if right[j] < n:
                left[right[j]] = i
            if left[i] >= 0:
                push(left[i])
            push(i)
        return [ids[i] for i in range(n) if alive[i]]

    def decode(self, ids) -> str:
        """The text of ``ids``: ``"▁"`` becomes a space, byte pieces are joined and read as UTF-8,
        begin/end-of-sentence pieces vanish, the dummy-prefix space at the start is dropped."""
        out, pending = [], bytearray()
        for i in np.asarray(ids).reshape(-1).tolist():
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} is outside the vocabulary [0, {self.vocab_size}): "
                                 f"decode ids this tokenizer produced")
            match = _BYTE_PIECE.fullmatch(self.pieces[i])
            if match:
                pending.append(int(match.group(1), 16))
                continue
            if pending:
                out.append(pending.decode("utf-8", "replace"))
                pending.clear()
            if i in (self.bos_id, self.eos_id):
                continue
            out.append(" \u2047 " if i == self.unk_id else self.pieces[i].replace(SPACE_MARK, " "))
        if pending:
            out.append(pending.decode("utf-8", "replace"))
        text = "".join(out)
        return text[1:] if text.startswith(" ") else text
