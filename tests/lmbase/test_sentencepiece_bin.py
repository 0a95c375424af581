"""llama2.c's tokenizer.bin: written and read back byte for byte, and our reader encodes and
decodes as the SentencePiece model it came from."""

import io
import struct

import numpy as np
import pytest
import sentencepiece as spm
from hypothesis import given, settings
from hypothesis import strategies as st

from lmbase.corpora import load_text
from lmbase.sentencepiece_bin import Llama2cTokenizer


def train_sentencepiece(text: str, model_type: str, vocab_size: int = 600) -> spm.SentencePieceProcessor:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(text.split("\n")),
        model_writer=model,
        vocab_size=vocab_size,
        model_type=model_type,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        byte_fallback=True,
        character_coverage=1.0,
        split_digits=True,
        num_threads=1,
        minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


@pytest.fixture(scope="module")
def shakespeare():
    return load_text("tinyshakespeare")


@pytest.fixture(scope="module")
def bpe_model(shakespeare):
    return train_sentencepiece(shakespeare[:300_000], "bpe")


@pytest.fixture(scope="module")
def ours(bpe_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("bin") / "tokenizer.bin"
    Llama2cTokenizer.from_sentencepiece(bpe_model).write(path)
    return Llama2cTokenizer.read(path, vocab_size=bpe_model.get_piece_size())


def test_the_file_layout_is_llama2cs(bpe_model, tmp_path):
    path = tmp_path / "tokenizer.bin"
    tok = Llama2cTokenizer.from_sentencepiece(bpe_model)
    tok.write(path)
    data = path.read_bytes()
    (max_len,) = struct.unpack_from("<I", data, 0)
    offset, pieces = 4, []
    while offset < len(data):
        score, length = struct.unpack_from("<fI", data, offset)
        pieces.append((score, data[offset + 8 : offset + 8 + length]))
        offset += 8 + length
    assert len(pieces) == bpe_model.get_piece_size()
    assert max_len == max(len(p) for _, p in pieces)
    assert pieces[0][1] == b"<unk>" and pieces[1][1] == b"\n<s>\n" and pieces[2][1] == b"\n</s>\n"
    assert pieces[3 + 0x41][1] == b"<0x41>"
    the = bpe_model.piece_to_id("\u2581the")
    assert pieces[the] == (pytest.approx(bpe_model.get_score(the)), b" the")


def test_write_read_write_is_byte_for_byte(bpe_model, ours, tmp_path):
    original = Llama2cTokenizer.from_sentencepiece(bpe_model)
    assert ours.pieces == original.pieces
    assert ours.scores == original.scores
    assert (ours.bos_id, ours.eos_id, ours.unk_id) == (1, 2, 0)
    assert ours.to_bytes() == original.to_bytes()


def test_every_validation_line_encodes_to_sentencepieces_ids(bpe_model, ours, shakespeare):
    validation = shakespeare[int(0.9 * len(shakespeare)) :]
    for line in validation.split("\n"):
        assert ours.encode(line).tolist() == bpe_model.encode(line), line
    ids = ours.encode(validation)
    assert ids.tolist() == bpe_model.encode(validation)
    assert ours.decode(ids) == validation == bpe_model.decode(ids.tolist())


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs", "Cn")), max_size=60))
def test_any_text_encodes_and_decodes_as_sentencepiece_does(bpe_model, ours, text):
    ids = ours.encode(text).tolist()
    assert ids == bpe_model.encode(text)
    assert ours.decode(ids) == bpe_model.decode(ids)


def test_begin_and_end_of_sentence(ours):
    ids = ours.encode("Hi", bos=True, eos=True).tolist()
    assert ids[0] == 1 and ids[-1] == 2
    assert ours.decode(ids) == "Hi"
    assert ours.encode("").tolist() == []


def test_bytes_to_encode_are_refused_with_the_fix(ours):
    with pytest.raises(TypeError, match=r"encode takes text \(a str\), got bytes of length 2: decode it first"):
        ours.encode(b"hi")


def test_greedy_merging_is_not_unigram_segmentation(shakespeare):
    # BabyGPT exported a *unigram* model; llama2.c's greedy merge does not reproduce its ids.
    unigram = train_sentencepiece(shakespeare[:300_000], "unigram")
    greedy = Llama2cTokenizer.from_sentencepiece(unigram)
    lines = [line for line in shakespeare[-20_000:].split("\n") if line]
    differ = sum(greedy.encode(line).tolist() != unigram.encode(line) for line in lines)
    assert differ > len(lines) // 4
    assert all(greedy.decode(greedy.encode(line)) == line for line in lines)  # still lossless


def test_truncated_and_corrupt_files_name_the_piece_and_the_fix(ours, tmp_path):
    data = ours.to_bytes()
    path = tmp_path / "tokenizer.bin"
    path.write_bytes(data[:2])
    with pytest.raises(ValueError, match="fewer than the 4-byte header.*write it again"):
        Llama2cTokenizer.read(path)
    cut = 4 + sum(8 + len(ours._piece_bytes(i)) for i in range(10))  # where piece 10 ("<0x07>") starts
    path.write_bytes(data[: cut + 8 + 2])
    with pytest.raises(ValueError, match=rf"piece 10 at byte {cut + 8} needs 6 bytes, 2 left: the file is truncated"):
        Llama2cTokenizer.read(path)
    path.write_bytes(data[: cut + 5])
    with pytest.raises(ValueError, match=rf"piece 10 at byte {cut} is cut off .* truncated"):
        Llama2cTokenizer.read(path)
    path.write_bytes(data[:4])
    with pytest.raises(ValueError, match="header but no pieces"):
        Llama2cTokenizer.read(path)
    # A cut exactly between two pieces is only visible with the vocabulary size.
    path.write_bytes(data[:cut])
    with pytest.raises(ValueError, match=f"holds 10 pieces, not vocab_size={ours.vocab_size}"):
        Llama2cTokenizer.read(path, vocab_size=ours.vocab_size)
    corrupt = bytearray(data)
    struct.pack_into("<I", corrupt, 0, 3)  # the header now says no piece is longer than 3 bytes
    path.write_bytes(bytes(corrupt))
    with pytest.raises(ValueError, match=r"piece 0 claims 5 bytes, more than the header's maximum 3"):
        Llama2cTokenizer.read(path)
    raw_byte = data[:4] + struct.pack("<fI", 0.0, 1) + b"\xff"
    path.write_bytes(raw_byte)
    with pytest.raises(ValueError, match=r"piece 0 \(b'\\xff'\) is not UTF-8"):
        Llama2cTokenizer.read(path)


def test_ids_outside_the_vocabulary_are_refused(ours):
    with pytest.raises(ValueError, match=rf"token id {ours.vocab_size} is outside"):
        ours.decode(np.array([5, ours.vocab_size]))
