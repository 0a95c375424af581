"""The numpy-only exercise checks: a right answer passes, wrong answers fail with a message that
says what is wrong, and a stub is reported as not answered."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from babygpt.ngram import NGramModel
from lmbase import flops, roofline
from lmbase.exercises import (
    check_answer,
    check_bigram_perplexity,
    check_causal_training_flops,
    check_encode_word,
    check_file_sha256,
    check_matmul_intensity,
    check_tokens_per_round,
    check_training_windows,
)


def bigram_perplexity(train, test, n_vocab, k):
    return NGramModel(2, n_vocab, smoothing="add-k", k=k).fit(np.array(train)).perplexity(np.array(test))


def test_bigram_perplexity_right_answer_passes():
    assert check_answer("Exercise", check_bigram_perplexity, bigram_perplexity)


def test_bigram_perplexity_counting_the_last_token_as_a_context_fails():
    def wrong(train, test, n_vocab, k):
        pairs = list(zip(train[:-1], train[1:]))
        nll = [-np.log((pairs.count((c, w)) + k) / (train.count(c) + k * n_vocab))
               for c, w in zip(test[:-1], test[1:])]
        return float(np.exp(np.mean(nll)))

    with pytest.raises(AssertionError, match="last token starts none"):
        check_bigram_perplexity(wrong)


def test_bigram_perplexity_forgetting_k_v_in_the_denominator_fails():
    def wrong(train, test, n_vocab, k):
        pairs = list(zip(train[:-1], train[1:]))
        nll = [-np.log((pairs.count((c, w)) + k) / (sum(p[0] == c for p in pairs) + k))
               for c, w in zip(test[:-1], test[1:])]
        return float(np.exp(np.mean(nll)))

    with pytest.raises(AssertionError, match="perplexity"):
        check_bigram_perplexity(wrong)


def test_a_stub_is_not_answered_yet(capsys):
    def stub(train, test, n_vocab, k):
        raise NotImplementedError

    assert not check_answer("Exercise 3", check_bigram_perplexity, stub)
    assert "not answered yet" in capsys.readouterr().out


def encode_word(word, merges):
    return apply_merges(list(word.encode("utf-8")), merges)


def apply_merges(ids, merges):
    rank = {pair: i for i, pair in enumerate(merges)}
    while True:
        ranked = [rank[p] for p in zip(ids, ids[1:]) if p in rank]
        if not ranked:
            return ids
        best = min(ranked)
        out, i = [], 0
        while i < len(ids):
            if tuple(ids[i:i + 2]) == merges[best]:
                out.append(256 + best)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out


def test_encode_word_right_answer_passes():
    assert check_answer("Exercise", check_encode_word, encode_word)


def test_encode_word_merging_the_leftmost_pair_first_fails():
    def wrong(word, merges):
        rank = {pair: i for i, pair in enumerate(merges)}
        ids = list(word.encode("utf-8"))
        while True:
            at = next((i for i, p in enumerate(zip(ids, ids[1:])) if p in rank), None)
            if at is None:
                return ids
            ids[at:at + 2] = [256 + rank[tuple(ids[at:at + 2])]]

    with pytest.raises(AssertionError, match="lowest rank"):
        check_encode_word(wrong)


def test_encode_word_on_characters_instead_of_bytes_fails():
    def wrong(word, merges):
        return apply_merges([ord(c) for c in word], merges)

    with pytest.raises(AssertionError, match="café"):
        check_encode_word(wrong)


def stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("check", [check_tokens_per_round, check_causal_training_flops,
                                   check_matmul_intensity])
def test_the_later_chapters_stubs_are_not_answered_yet(check, capsys):
    assert check_answer("Exercise", check, stub) is False
    assert "not answered yet" in capsys.readouterr().out


def tokens_per_round(alpha, k):
    return k + 1 if alpha == 1 else (1 - alpha ** (k + 1)) / (1 - alpha)


def test_tokens_per_round_right_answer_passes():
    assert check_answer("Exercise 3", check_tokens_per_round, tokens_per_round)


@pytest.mark.parametrize("wrong, message", [
    (lambda alpha, k: k if alpha == 1 else (1 - alpha**k) / (1 - alpha), "expected"),  # no extra token
    (lambda alpha, k: (1 - alpha ** (k + 1)) / (1 - alpha), "divides by zero"),  # alpha = 1 forgotten
    (lambda alpha, k: 1 + alpha * k, "expected"),  # as if a rejection did not end the round
])
def test_tokens_per_round_wrong_answers_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_tokens_per_round(wrong)


def causal_training_flops(vocab_size, n_layer, d_model, context, keys=lambda t: (t + 1) / 2,
                          passes=3):
    g = flops.gpt_forward_flops(vocab_size, n_layer, d_model, context)
    return passes * (sum(g.values()) - g["attention"] * (1 - keys(context) / context))


def test_causal_training_flops_right_answer_passes():
    assert check_answer("Exercise 1", check_causal_training_flops, causal_training_flops)


@pytest.mark.parametrize("wrong", [
    lambda *shape: causal_training_flops(*shape, keys=lambda t: t / 2),  # the diagonal left out
    lambda *shape: causal_training_flops(*shape, keys=lambda t: t),  # no mask
    lambda *shape: causal_training_flops(*shape, passes=1),  # the forward pass only
    lambda v, n_layer, d, t: causal_training_flops(v, n_layer, d, t) - 6 * d * v,  # no head
])
def test_causal_training_flops_wrong_answers_fail(wrong):
    with pytest.raises(AssertionError, match="FLOPs a token"):
        check_causal_training_flops(wrong)


def test_matmul_intensity_right_answer_passes():
    assert check_answer("Exercise 2", check_matmul_intensity, roofline.matmul_intensity)


@pytest.mark.parametrize("wrong", [
    lambda m, k, n, b=2: 2 * m * k * n / (b * (m * k + k * n)),  # the output never written
    lambda m, k, n, b=2: m * k * n / (b * (m * k + k * n + m * n)),  # a FLOP per term
    lambda m, k, n, b=2: 2 * m * k * n / (2 * (m * k + k * n + m * n)),  # always 2 bytes
])
def test_matmul_intensity_wrong_answers_fail(wrong):
    with pytest.raises(AssertionError, match="FLOPs per byte"):
        check_matmul_intensity(wrong)


# ---- chapter 0 --------------------------------------------------------------------------------

def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def training_windows(ids, starts, context):
    inputs = np.stack([ids[s:s + context] for s in starts])
    return inputs, np.stack([ids[s + 1:s + 1 + context] for s in starts])


def test_file_sha256_right_answer_passes():
    assert check_answer("Exercise", check_file_sha256, file_sha256)


def test_file_sha256_of_the_decoded_text_fails():
    def wrong(path):  # text mode turns \r\n into \n before the bytes are hashed
        return hashlib.sha256(Path(path).read_text(encoding="utf-8", errors="replace").encode()).hexdigest()

    with pytest.raises(AssertionError, match="binary mode"):
        check_file_sha256(wrong)


def test_file_sha256_of_the_first_chunk_only_fails():
    def wrong(path):
        with open(path, "rb") as f:
            return hashlib.sha256(f.read(2**20)).hexdigest()

    with pytest.raises(AssertionError, match="3,145,745 bytes"):
        check_file_sha256(wrong)


def test_training_windows_right_answer_passes():
    assert check_answer("Exercise", check_training_windows, training_windows)


def test_training_windows_without_the_shift_fails():
    def wrong(ids, starts, context):
        inputs = np.stack([ids[s:s + context] for s in starts])
        return inputs, inputs

    with pytest.raises(AssertionError, match="the targets are"):
        check_training_windows(wrong)


def test_training_windows_one_token_short_fails():
    def wrong(ids, starts, context):
        return training_windows(ids, starts, context - 1)

    with pytest.raises(AssertionError, match="the inputs are"):
        check_training_windows(wrong)
