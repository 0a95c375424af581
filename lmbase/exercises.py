"""Exercises a learner does: a stub to fill in, and a check that says what is wrong.

A chapter's exercise cell defines the stub, whose body raises ``NotImplementedError``, and hands it
to the exercise's check (in ``babygpt.exercises``, ``microgpt.exercises``, or below for the
numpy-only chapters) through :func:`check_answer`. Until the stub is filled in, the cell says so; a wrong answer raises
``AssertionError`` with what differs and by how much; a right one prints that it is right. The
solution, in a hidden cell, goes through the same check, which is how the tests run it.
"""

import hashlib
import math
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np


def check_answer(exercise: str, check: Callable, answer: Callable) -> bool:
    """Run ``check(answer)``: False (and a note) while ``answer`` raises NotImplementedError, True
    when the check passes; a failing check raises its AssertionError."""
    try:
        check(answer)
    except NotImplementedError:
        print(f"{exercise}: not answered yet. Fill in the function above and run the cell again.")
        return False
    print(f"{exercise}: correct.")
    return True


# ---- chapter 0: how to use this book ----------------------------------------------------------

def check_file_sha256(file_sha256) -> None:
    """``file_sha256(path)``: the SHA-256 of the file's bytes as 64 lower-case hex digits, read in
    chunks so that a file larger than memory could be hashed too."""
    rng = np.random.default_rng(0)
    contents = [b"", "First Citizen:\nBefore we proceed".encode("utf-8"),
                "caf\u00e9 \u2014 na\u00efve\r\n".encode("utf-8"), rng.bytes(3 * 2**20 + 17)]
    with tempfile.TemporaryDirectory() as folder:
        for i, data in enumerate(contents):
            path = Path(folder) / f"case{i}.bin"
            path.write_bytes(data)
            expected = hashlib.sha256(data).hexdigest()
            got = file_sha256(path)
            assert got == expected, (
                f"a file of {len(data):,} bytes: got {got!r}, expected {expected!r}. Hash the bytes "
                f"as read in binary mode (no decoding, no newline translation), all of them, and "
                f"return hexdigest()")


def check_training_windows(training_windows) -> None:
    """``training_windows(ids, starts, context)``: inputs and targets, both (len(starts), context):
    row i of the inputs is ``ids[s : s + context]`` for ``s = starts[i]``, and of the targets the
    same window one token later, the next token of every input."""
    ids = np.arange(100, 160)
    cases = [([0], 8), ([3, 17, 40], 5), ([51], 8), ([0, 0, 9], 1)]
    for starts, context in cases:
        inputs, targets = (np.asarray(a) for a in training_windows(ids, np.array(starts), context))
        expected_inputs = np.stack([ids[s:s + context] for s in starts])
        expected_targets = np.stack([ids[s + 1:s + 1 + context] for s in starts])
        for name, got, expected in (("inputs", inputs, expected_inputs), ("targets", targets, expected_targets)):
            assert got.shape == expected.shape and np.array_equal(got, expected), (
                f"starts={starts}, context={context}: the {name} are {got.tolist()}, expected "
                f"{expected.tolist()}. Each input is `context` tokens from its start; its targets are "
                f"the same window shifted by one, so that targets[i, t] is the token after inputs[i, t]")


# ---- chapter 1: n-grams -----------------------------------------------------------------------

def check_bigram_perplexity(bigram_perplexity) -> None:
    """``bigram_perplexity(train, test, n_vocab, k)``: the perplexity on the ids ``test`` of the
    add-k bigram model counted from the ids ``train``, P(w | c) = (C(c w) + k) / (C(c) + k V),
    where C(c) counts the pairs that start with c."""
    cases = [
        ([0, 1, 1, 0], [0, 1, 0, 1], 2, 1.0),  # "abba" and "abab", the chapter's hand example
        ([0, 1, 2, 0, 1, 2, 2], [2, 1, 0, 0], 4, 0.5),  # token 3 never seen
        ([3, 3, 3, 1], [1, 3, 3], 4, 0.01),  # the last token starts no pair
    ]
    for train, test, n_vocab, k in cases:
        pairs = list(zip(train[:-1], train[1:]))
        log_likelihood = 0.0
        for c, w in zip(test[:-1], test[1:]):
            pair_count = sum(1 for pair in pairs if pair == (c, w))
            context_count = sum(1 for first, _ in pairs if first == c)
            log_likelihood += math.log((pair_count + k) / (context_count + k * n_vocab))
        expected = math.exp(-log_likelihood / (len(test) - 1))
        got = float(bigram_perplexity(train, test, n_vocab, k))
        assert math.isclose(got, expected, rel_tol=1e-9), (
            f"train={train}, test={test}, n_vocab={n_vocab}, k={k}: perplexity {got:.6f}, expected "
            f"{expected:.6f}. Count C(c) over the pairs of train (its last token starts none), "
            f"add k to every pair and k * n_vocab to every context, and average the negative log "
            f"probability over the {len(test) - 1} pairs of test")


# ---- chapter 2: tokenization ------------------------------------------------------------------

def check_encode_word(encode_word) -> None:
    """``encode_word(word, merges)``: the BPE ids of the string ``word``: its UTF-8 bytes (ids 0 to
    255), then, while any applies, the merge of lowest rank, where merge i joins the pair
    ``merges[i]`` into the id 256 + i (compared with ``BytePairTokenizer.encode_word``)."""
    from .bpe_train import train_bpe

    text = "the theme of these three thieves: thirty thin thistles, café au lait. " * 4
    bpe = train_bpe(text, 300)
    assert all(bpe.token_bytes[i] == bytes([i]) for i in range(256))
    for word in ["the", " these", " thistles", " café", " unseen", "th", "x"]:
        expected = bpe.encode_word(word)
        got = list(encode_word(word, list(bpe.merges)))
        assert got == expected, (
            f"{word!r}: {got}, expected {expected} (as bytes {[bpe.token_bytes[i] for i in expected]}). "
            f"Start from word.encode('utf-8'), and at each step apply the merge of lowest rank among "
            f"the pairs present, to all its occurrences left to right, until no merge applies")


# ---- chapter 9: inference ---------------------------------------------------------------------

def check_tokens_per_round(tokens_per_round) -> None:
    """``tokens_per_round(alpha, k)``: the mean number of tokens a round of speculative decoding
    yields when each of its ``k`` proposals is accepted with probability ``alpha``, independently,
    until the first rejection (the accepted ones, plus the token the target adds)."""
    for alpha in (0.0, 0.3, 0.75, 0.99, 1.0):
        for k in (1, 4, 8):
            # n proposals accepted (n < k) with probability alpha^n (1 - alpha), all k with alpha^k
            expected = sum(alpha**n * (1 - alpha) * (n + 1) for n in range(k)) + alpha**k * (k + 1)
            try:
                got = float(tokens_per_round(alpha, k))
            except ZeroDivisionError:
                raise AssertionError(
                    f"alpha = {alpha}, k = {k}: your formula divides by zero; with alpha = 1 every "
                    f"proposal is accepted and the round yields k + 1 = {k + 1} tokens") from None
            assert math.isclose(got, expected, rel_tol=1e-9), (
                f"alpha = {alpha}, k = {k}: {got:.6f} tokens a round, expected {expected:.6f}. A "
                f"round yields the proposals accepted before the first rejection, plus one token "
                f"of the target's (the replacement, or the one after all k)")


# ---- chapter 11: FLOPs, MFU and scaling laws --------------------------------------------------

def check_causal_training_flops(causal_training_flops) -> None:
    """``causal_training_flops(vocab_size, n_layer, d_model, context)``: the training FLOPs per
    token of a GPT's matrix products (d_kv = d, d_ff = 4d) over a full sequence of ``context``
    tokens when attention computes only what the causal mask lets through: the query at position
    t against the t + 1 keys up to it (counted product by product, position by position)."""
    for n_vocab, n_layer, d, length in [(65, 6, 384, 256), (50257, 12, 768, 1024), (10, 2, 8, 1),
                                        (7, 1, 4, 3)]:
        weights = [(d, 3 * d), (d, d), (d, 4 * d), (4 * d, d)] * n_layer + [(d, n_vocab)]
        forward = sum(2 * length * k * n for k, n in weights)  # (T, k) @ (k, n), T rows
        for t in range(length):
            forward += n_layer * (2 * d * (t + 1) + 2 * (t + 1) * d)  # q k^T, then the sum of values
        expected = 3 * forward / length
        got = float(causal_training_flops(n_vocab, n_layer, d, length))
        assert math.isclose(got, expected, rel_tol=1e-12), (
            f"n_vocab={n_vocab}, n_layer={n_layer}, d={d}, T={length}: {got:,.2f} FLOPs a token, "
            f"expected {expected:,.2f}. Training is 3 forward passes; the query at t meets t + 1 keys, (T + 1) / 2 on average, "
            f"and each meeting costs 2 d FLOPs for the score and 2 d for the weighted value")


def check_matmul_intensity(matmul_intensity) -> None:
    """``matmul_intensity(m, k, n, bytes_per_value=2)``: the FLOPs per byte moved of the product
    of an (m, k) matrix and a (k, n) one, reading both and writing the (m, n) result (compared with
    the bytes of real numpy arrays of that size)."""
    for m, k, n in [(1, 768, 3072), (64, 768, 3072), (4096, 768, 3072), (7, 5, 3)]:
        for dtype in (np.float16, np.float32):
            a, b = np.zeros((m, k), dtype), np.zeros((k, n), dtype)
            expected = 2 * m * k * n / (a.nbytes + b.nbytes + (a @ b).nbytes)
            got = float(matmul_intensity(m, k, n, a.itemsize))
            assert math.isclose(got, expected, rel_tol=1e-12), (
                f"({m}, {k}) @ ({k}, {n}) in {a.itemsize}-byte numbers: {got:.4f} FLOPs per byte, "
                f"expected {expected:.4f}: {2 * m * k * n:,} FLOPs (a multiply and an add per "
                f"term) over {a.nbytes + b.nbytes + (a @ b).nbytes:,} bytes (both inputs read, the "
                f"output written)")
