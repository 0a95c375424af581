"""GPT-2's tokenizer, loaded from OpenAI's own two files into :class:`~lmbase.bpe.BytePairTokenizer`.

- ``encoder.json``: 50,257 token strings -> ids, written in GPT-2's printable byte alphabet
  (:mod:`lmbase.byte_alphabet`); id 50256 is ``"<|endoftext|>"``.
- ``vocab.bpe``: the 50,000 merges, best first, one ``"left right"`` pair a line, after a
  ``#version: 0.2`` header line.

Both come through the data layer (:func:`lmbase.download.fetch`) from the URLs tiktoken uses,
checked by sha256. The course's offline seed folder holds ``gpt2/vocab.json`` (the same bytes as
``encoder.json``) and ``gpt2/merges.txt``, which is ``vocab.bpe`` without its header line: when
that copy is there, :func:`gpt2_files` puts the header back, checks that the result has
``vocab.bpe``'s sha256, and caches it, so that nothing is downloaded.
"""

import json
import os
import tempfile
from pathlib import Path

from .bpe import BytePairTokenizer
from .byte_alphabet import text_to_bytes
from .download import RemoteFile, cache_dir, fetch, is_intact, seed_dir, sha256_of

END_OF_TEXT = "<|endoftext|>"
MERGES_HEADER = b"#version: 0.2\n"

GPT2_ENCODER_JSON = RemoteFile(
    relpath="gpt2/vocab.json",
    url="https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json",
    sha256="196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    size=1_042_301,
)
GPT2_VOCAB_BPE = RemoteFile(
    relpath="gpt2/vocab.bpe",
    url="https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe",
    sha256="1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    size=456_318,
)
# The seed folder's header-less copy of vocab.bpe (never downloaded: its URL is vocab.bpe's).
GPT2_MERGES_TXT = RemoteFile(
    relpath="gpt2/merges.txt",
    url=GPT2_VOCAB_BPE.url,
    sha256="ac33235097fe06d4a8fff0feac994644809e6eb6ab70669e1e9fd40ae032428e",
    size=456_304,
)


def gpt2_files() -> tuple[Path, Path]:
    """Local, verified paths of GPT-2's ``encoder.json`` and ``vocab.bpe`` (downloaded if needed)."""
    _cache_vocab_bpe_from_seed()
    return fetch(GPT2_ENCODER_JSON), fetch(GPT2_VOCAB_BPE)


def _cache_vocab_bpe_from_seed() -> None:
    """If the seed folder has the header-less ``merges.txt``, write ``vocab.bpe`` from it into the cache."""
    seed = seed_dir()
    cached = cache_dir() / GPT2_VOCAB_BPE.relpath
    if seed is None or is_intact(cached, GPT2_VOCAB_BPE):
        return
    headerless = seed / GPT2_MERGES_TXT.relpath
    if not is_intact(headerless, GPT2_MERGES_TXT):
        return
    cached.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=cached.parent, prefix=cached.name + ".")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(MERGES_HEADER + headerless.read_bytes())
        if sha256_of(Path(temporary)) == GPT2_VOCAB_BPE.sha256:
            os.replace(temporary, cached)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_merges(path: str | Path) -> list[tuple[str, str]]:
    """The merge pairs of a ``vocab.bpe`` / ``merges.txt`` file, with or without its ``#version`` line."""
    pairs = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").split("\n"), start=1):
        if not line or (number == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise ValueError(
                f"{path}, line {number}: {line!r} is not a merge 'left right' (two tokens and one "
                f"space): the file is corrupt; fetch it again"
            )
        pairs.append((parts[0], parts[1]))
    return pairs


def tokenizer_from_files(vocab_path: str | Path, merges_path: str | Path) -> BytePairTokenizer:
    """A BytePairTokenizer from a GPT-2-style ``vocab.json`` (or ``encoder.json``) and merges file.

    Every entry written ``<|...|>`` becomes a special token, never split or merged.
    """
    vocab = json.loads(Path(vocab_path).read_text(encoding="utf-8"))
    specials = {s: i for s, i in vocab.items() if s.startswith("<|") and s.endswith("|>")}
    ordinary = {s: i for s, i in vocab.items() if s not in specials}
    if sorted(ordinary.values()) != list(range(len(ordinary))):
        raise ValueError(f"{vocab_path}: the ordinary token ids are not 0..{len(ordinary) - 1}")
    token_bytes = [b""] * len(ordinary)
    for s, i in ordinary.items():
        token_bytes[i] = text_to_bytes(s)
    merges = []
    for rank, (left, right) in enumerate(read_merges(merges_path)):
        try:
            merges.append((ordinary[left], ordinary[right]))
        except KeyError as error:
            raise ValueError(
                f"{merges_path}: merge {rank} ({left!r} {right!r}) names {error.args[0]!r}, which is "
                f"not in {vocab_path}: the two files do not belong together"
            ) from None
    return BytePairTokenizer(token_bytes, merges, specials)


def load_gpt2_tokenizer() -> BytePairTokenizer:
    """GPT-2's tokenizer: 50,257 tokens (50,000 merges), ``"<|endoftext|>"`` = 50256."""
    vocab_path, merges_path = gpt2_files()
    return tokenizer_from_files(vocab_path, merges_path)
