"""Byte-level BPE: a hand-worked example, round trips, special tokens, files, and parity with
Hugging Face `tokenizers`' trainer merge for merge."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from lmbase.bpe import BytePairTokenizer
from lmbase.bpe_train import count_words, train_bpe, train_merges
from lmbase.byte_alphabet import bytes_to_text
from lmbase.corpora import load_text

EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def shakespeare():
    return load_text("tinyshakespeare")


@pytest.fixture(scope="module")
def small(shakespeare):
    return train_bpe(shakespeare[:200_000], 512, special_tokens=[EOT])


def test_hand_worked_example_merges_aa_then_ab_then_their_join():
    # "aaabdaaabac" (the classic example): (a,a) occurs 4 times; then (aa,a)... no: merges are
    # counted on the current tokens. Step by step:
    #   a a a b d a a a b a c   pairs: aa 4, ab 2, bd 1, da 1, ba 1, ac 1     -> merge (a, a) = 256
    #   Z a b d Z a b a c       pairs: Za 2, ab 2, bd, dZ, ba, ac            -> tie at 2: "Z" ranks
    #                            after every byte, so (a, b) wins              -> merge (a, b) = 257
    #   Z Y d Z Y a c           pairs: ZY 2, Yd, dZ, Ya, ac                   -> merge (Z, Y) = 258
    merges, counts = train_merges({"aaabdaaabac": 1}, 3)
    a, b = ord("a"), ord("b")
    assert merges == [(a, a), (a, b), (256, 257)]
    assert counts == [4, 2, 2]
    tok = train_bpe("aaabdaaabac", 259)
    assert tok.encode("aaabdaaabac").tolist() == [258, ord("d"), 258, ord("a"), ord("c")]
    assert [tok.token_bytes[i] for i in (256, 257, 258)] == [b"aa", b"ab", b"aaab"]


def test_ties_are_broken_by_the_printable_alphabet_order():
    # Both pairs occur once. By byte value " " (0x20) < "x"; in GPT-2's printable alphabet the
    # space is "Ġ" (U+0120), which ranks after "x", so (x, y) is merged first.
    merges, _ = train_merges({"xy": 1, " z": 1}, 2)
    assert merges == [(ord("x"), ord("y")), (ord(" "), ord("z"))]


def test_overlapping_pairs_merge_left_to_right():
    tok = train_bpe("aaa", 257)
    assert tok.merges == [(97, 97)]
    assert tok.encode("aaa").tolist() == [256, 97]


def test_merges_never_cross_words():
    tok = train_bpe("ab ab ab", 300)
    assert all(b" " not in t[1:] for t in tok.token_bytes)  # a space only ever starts a token


@pytest.mark.parametrize("vocab_size", [1000, 4096])
def test_training_matches_tokenizers_merge_for_merge(shakespeare, vocab_size):
    ours = train_bpe(shakespeare, vocab_size)
    reference = Tokenizer(models.BPE())
    reference.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    reference.train_from_iterator([shakespeare], trainer)
    expected = [tuple(m) for m in json.loads(reference.to_str())["model"]["merges"]]
    got = [(bytes_to_text(ours.token_bytes[a]), bytes_to_text(ours.token_bytes[b])) for a, b in ours.merges]
    assert len(got) == vocab_size - 256
    assert got == expected


def test_merge_counts_never_increase_and_training_stops_when_pairs_run_out(shakespeare):
    merges, counts = train_merges(count_words(shakespeare[:100_000]), 100_000)
    assert all(a >= b for a, b in zip(counts, counts[1:])) and counts[-1] >= 1
    assert len(merges) < 100_000  # every word became one token before 100,000 merges
    tok = train_bpe(shakespeare[:100_000], 256 + 100_000)
    assert tok.vocab_size == 256 + len(merges)
    assert all(len(tok.encode_word(w)) == 1 for w in count_words(shakespeare[:100_000]))


def test_counts_of_the_incremental_trainer_equal_a_full_recount(shakespeare):
    # Recount every pair from scratch after each merge (the slow textbook loop) for a few merges.
    words = count_words(shakespeare[:50_000])
    merges, counts = train_merges(words, 40)
    tokens = {w: list(w.encode()) for w in words}
    for k, ((a, b), count) in enumerate(zip(merges, counts)):
        recount = {}
        for w, ids in tokens.items():
            for pair in zip(ids, ids[1:]):
                recount[pair] = recount.get(pair, 0) + words[w]
        assert recount[(a, b)] == count == max(recount.values())
        for w, ids in tokens.items():
            out, i = [], 0
            while i < len(ids):
                if ids[i : i + 2] == [a, b]:
                    out.append(256 + k)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            tokens[w] = out


# Any code point, lone surrogates included (hypothesis leaves them out unless asked), and often.
any_python_string = st.text(
    st.one_of(st.characters(exclude_categories=()), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(any_python_string)
def test_any_string_round_trips_including_lone_surrogates(small, text):
    ids = small.encode(text)
    assert ids.dtype == np.int64 and ids.ndim == 1
    assert small.decode(ids) == text


def test_emoji_combining_marks_and_surrogates_round_trip(small):
    for text in ["👍🏽 family: 👨‍👩‍👧", "e\u0301 vs \u00e9", "lone \ud800 and \udfff", "\x00\x7f\uffff"]:
        assert small.decode(small.encode(text)) == text
    # A lone surrogate is written as the three bytes its code point would take ("surrogatepass").
    assert small.decode_bytes(small.encode("\ud800")) == b"\xed\xa0\x80"


def test_bytes_that_are_not_utf8_decode_to_replacement_characters(small):
    # "é" is C3 A9 in UTF-8; ids 0..255 of a trained tokenizer are the bytes themselves.
    assert small.decode([0xC3, 0xA9]) == "é"
    assert small.decode([0xC3, ord("a")]) == "\ufffda"
    assert small.decode([0xA9, 0xA9]) == "\ufffd\ufffd"


def test_special_tokens_are_never_split_or_merged(small):
    eot = small.special_token_id(EOT)
    assert eot == 512 - 1 and small.vocab_size == 512
    ids = small.encode(f"the end.{EOT}The start{EOT}{EOT}").tolist()
    assert ids.count(eot) == 3
    assert ids == (
        small.encode("the end.").tolist() + [eot] + small.encode("The start").tolist() + [eot, eot]
    )
    assert all(EOT.encode() not in t for t in small.token_bytes)  # training never saw it as text
    assert small.decode(ids) == f"the end.{EOT}The start{EOT}{EOT}"
    plain = small.encode(EOT, allowed_special="none").tolist()
    assert eot not in plain and small.decode(plain) == EOT


def test_an_unknown_special_token_names_itself_and_the_known_ones(small):
    with pytest.raises(ValueError, match=r"unknown special token '<\|pad\|>'.*<\|endoftext\|>"):
        small.encode("x", allowed_special={"<|pad|>"})
    with pytest.raises(ValueError, match="unknown special token"):
        small.special_token_id("<|pad|>")


def test_a_vocabulary_below_256_tokens_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"vocab_size=200 is too small.*vocab_size >= 256"):
        train_bpe("hello", 200)
    with pytest.raises(ValueError, match=r"vocab_size=256 is too small.*vocab_size >= 257"):
        train_bpe("hello", 256, special_tokens=[EOT])


def test_bad_training_input_and_bytes_to_encode_are_refused_with_the_fix(small):
    for empty in ("", [], ["", ""], EOT):
        with pytest.raises(ValueError, match="the training text is empty .*nothing to learn merges from"):
            train_bpe(empty, 300, special_tokens=[EOT])
    with pytest.raises(TypeError, match=r"vocab_size must be an integer, got '300' \(str\): .*vocab_size=1024"):
        train_bpe("hello world", "300")
    with pytest.raises(TypeError, match="BPE training takes text"):
        train_bpe(b"hello world", 300)
    for encode in (small.encode, small.encode_ordinary):
        with pytest.raises(TypeError, match=r"takes text \(a str\), got bytes of length 5: decode it first"):
            encode(b"hello")
    assert train_bpe("hello", np.int64(257)).vocab_size == 257  # numpy integers are integers


def test_ids_outside_the_vocabulary_are_refused(small):
    with pytest.raises(ValueError, match=r"token id 9999 is outside"):
        small.decode([1, 9999])


def test_save_and_load_round_trip_and_the_file_reads_like_gpt2s(small, tmp_path):
    path = tmp_path / "tok.json"
    small.save(path)
    text = path.read_text(encoding="utf-8")
    assert '"Ġthe"' in text  # tokens are written in GPT-2's printable alphabet
    loaded = BytePairTokenizer.load(path)
    assert loaded.token_bytes == small.token_bytes
    assert loaded.merges == small.merges
    assert loaded.special_tokens == small.special_tokens
    sample = f"To be, or not to be{EOT} 🙂"
    assert loaded.encode(sample).tolist() == small.encode(sample).tolist()


def test_truncated_or_corrupt_files_raise_an_error_that_names_the_fix(small, tmp_path):
    path = tmp_path / "tok.json"
    small.save(path)
    whole = path.read_text(encoding="utf-8")
    path.write_text(whole[: len(whole) // 2], encoding="utf-8")
    with pytest.raises(ValueError, match=r"corrupt or truncated.*re-create it"):
        BytePairTokenizer.load(path)
    d = json.loads(whole)
    d["merges"][5] = [1, 2, 3]
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(ValueError, match="corrupt: a merge is not a pair"):
        BytePairTokenizer.load(path)
    d = json.loads(whole)
    d["vocab"][300] = "Ġzzzz"  # no longer the join of merge 44's two tokens
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(ValueError, match="corrupt: merge .* not in the vocabulary"):
        BytePairTokenizer.load(path)
    path.write_text('{"format": "something-else"}', encoding="utf-8")
    with pytest.raises(ValueError, match="is not an lmbase-bpe file"):
        BytePairTokenizer.load(path)


@pytest.mark.parametrize("chunk_chars", [1, 7, 1000, 1 << 20])
def test_streaming_a_file_gives_the_ids_of_the_whole_text(small, shakespeare, tmp_path, chunk_chars):
    text = shakespeare[:20_000] + f"\n{EOT}\nend\n\n  tail  "
    source = tmp_path / "in.txt"
    source.write_text(text, encoding="utf-8", newline="")
    pieces = list(small.iter_encode_file(source, chunk_chars=chunk_chars))
    expected = small.encode(text)
    assert np.array_equal(np.concatenate(pieces), expected)
    if chunk_chars == 1000:
        assert len(pieces) > 10 and max(len(p) for p in pieces) < len(expected) / 5  # it really streams
    out = tmp_path / "ids.bin"
    assert small.encode_file(source, out, chunk_chars=chunk_chars) == len(expected)
    assert np.array_equal(np.fromfile(out, dtype=small.id_dtype()), expected)
