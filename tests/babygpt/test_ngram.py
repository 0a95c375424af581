"""Count n-gram models against hand-worked examples, brute-force recounts and NLTK."""

from collections import Counter

import numpy as np
import pytest
import torch
from nltk.lm import Lidstone
from nltk.lm.vocabulary import Vocabulary
from nltk.util import ngrams

from babygpt.neural_bigram import bigram_counts, train_neural_bigram
from babygpt.ngram import NGramModel, count_baselines
from lmbase.char_tokenizer import CharTokenizer

TEXT = (
    "the quick brown fox jumps over the lazy dog; then the dog sleeps, "
    "and the fox, quick as ever, runs over the hill to the other dog.\n"
) * 3
TOKENIZER = CharTokenizer.from_text(TEXT)
IDS = TOKENIZER.encode(TEXT)
V = TOKENIZER.vocab_size


@pytest.mark.parametrize("smoothing", ["add-k", "witten-bell"])
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_every_next_token_distribution_sums_to_one(n, smoothing):
    model = NGramModel(n, V, smoothing=smoothing, k=0.5).fit(IDS)
    rng = np.random.default_rng(0)
    for _ in range(20):
        context = rng.integers(0, V, size=n - 1)  # mostly contexts never seen
        p = model.next_token_probs(context)
        assert p.shape == (V,) and abs(p.sum() - 1) < 1e-12 and p.min() > 0
    for start in range(0, len(IDS) - n, 37):  # contexts that were seen
        assert abs(model.next_token_probs(IDS[start:start + n - 1]).sum() - 1) < 1e-12


def test_perplexity_of_a_hand_worked_bigram_example():
    tiny = CharTokenizer("ab")
    model = NGramModel(2, 2, smoothing="add-k", k=1.0).fit(tiny.encode("abba"))
    # pairs ab, bb, ba: P(b|a) = (1+1)/(1+2), P(a|b) = (1+1)/(2+2); "abab" scores ab, ba, ab.
    expected = (2 / 3 * 1 / 2 * 2 / 3) ** (-1 / 3)
    assert model.perplexity(tiny.encode("abab")) == pytest.approx(expected, rel=1e-12)


def test_uniform_limit_has_perplexity_equal_to_the_vocabulary():
    model = NGramModel(3, V, smoothing="add-k", k=1e12).fit(IDS)
    assert model.perplexity(IDS) == pytest.approx(V, rel=1e-9)


def test_add_k_matches_nltk_lidstone():
    train, test = TEXT[:200], TEXT[150:]
    reference = Lidstone(0.3, 3, vocabulary=Vocabulary(TOKENIZER.chars, unk_cutoff=1))
    reference.fit([list(ngrams(train, 3))])
    ours = NGramModel(3, len(reference.vocab), smoothing="add-k", k=0.3).fit(TOKENIZER.encode(train))
    windows = np.lib.stride_tricks.sliding_window_view(TOKENIZER.encode(test), 3)
    expected = [reference.score(test[i + 2], list(test[i:i + 2])) for i in range(len(windows))]
    assert np.allclose(ours.prob(windows[:, :2], windows[:, 2]), expected, rtol=1e-12, atol=0)


def witten_bell_by_recursion(ids, n, vocab_size, context, w):
    """A direct float64 transcription of the Witten-Bell recursion with Python Counters."""
    if n == 0:
        return 1.0 / vocab_size
    lower = witten_bell_by_recursion(ids, n - 1, vocab_size, context[1:], w)
    grams = Counter(tuple(ids[i:i + n]) for i in range(len(ids) - n + 1))
    ctx = tuple(context)
    seen = sum(c for g, c in grams.items() if g[:-1] == ctx)
    types = sum(1 for g in grams if g[:-1] == ctx)
    if seen == 0:
        return lower
    return (grams[ctx + (w,)] + types * lower) / (seen + types)


def test_witten_bell_matches_a_direct_recursion():
    ids = IDS.tolist()
    model = NGramModel(3, V, smoothing="witten-bell").fit(IDS)
    rng = np.random.default_rng(1)
    contexts = [ids[i:i + 2] for i in range(0, 60, 7)] + [rng.integers(0, V, 2).tolist() for _ in range(5)]
    for context in contexts:
        for w in range(V):
            expected = witten_bell_by_recursion(ids, 3, V, context, w)
            assert model.prob(np.array([context]), np.array([w]))[0] == pytest.approx(expected, rel=1e-12)


def test_longer_contexts_fit_the_training_text_better_with_witten_bell():
    train_ppl = [NGramModel(n, V, smoothing="witten-bell").fit(IDS).perplexity(IDS) for n in range(1, 7)]
    assert all(a > b for a, b in zip(train_ppl, train_ppl[1:]))


def test_generation_is_deterministic_for_a_seed_and_stays_in_the_vocabulary():
    model = NGramModel(3, V, smoothing="witten-bell").fit(IDS)
    a = model.generate(TOKENIZER.encode("th"), 50, seed=5)
    b = model.generate(TOKENIZER.encode("th"), 50, seed=5)
    assert np.array_equal(a, b) and len(a) == 52 and a.min() >= 0 and a.max() < V


def test_bad_input_names_the_value_and_the_fix():
    with pytest.raises(ValueError, match=r"n=0 must be an integer of at least 1"):
        NGramModel(0, V)
    with pytest.raises(ValueError, match=r"token id 99, outside the vocabulary \[0, 5\)"):
        NGramModel(2, 5).fit(np.array([0, 1, 99]))
    with pytest.raises(ValueError, match="too few"):
        NGramModel(3, V).fit(IDS).perplexity(IDS[:2])
    with pytest.raises(ValueError, match="use n <= 10"):
        NGramModel(11, 65)
    with pytest.raises(ValueError, match="needs 2"):
        NGramModel(3, V).fit(IDS).next_token_probs(IDS[:1])
    with pytest.raises(RuntimeError, match="call fit"):
        NGramModel(2, V).perplexity(IDS)
    with pytest.raises(ValueError, match="0 tokens, fewer than n=2"):
        NGramModel(2, V).fit([])
    with pytest.raises(ValueError, match="k=0"):
        NGramModel(2, V, k=0)


def test_bigram_counts_match_a_counter():
    counts = bigram_counts(IDS, V)
    expected = Counter(zip(IDS[:-1].tolist(), IDS[1:].tolist()))
    assert counts.sum() == len(IDS) - 1
    assert all(counts[i, j] == c for (i, j), c in expected.items())


def test_neural_bigram_converges_to_the_add_k_counts():
    counts = bigram_counts(IDS, V)
    model, losses = train_neural_bigram(counts, k=1.0, steps=400, lr=0.5)
    target = (counts + 1) / (counts + 1).sum(axis=1, keepdims=True)
    assert np.abs(model.probabilities().detach().numpy() - target).max() < 1e-3
    optimum = -np.sum((counts + 1) * np.log(target)) / np.sum(counts + 1)
    assert losses[0] == pytest.approx(np.log(V)) and losses[-1] == pytest.approx(optimum, abs=1e-5)
    assert model(torch.tensor([[0, 1]])).shape == (1, 2, V)


def test_count_baselines_are_the_add_1_bigram_and_the_witten_bell_5_gram_in_nats():
    rng = np.random.default_rng(0)
    train, val = rng.integers(0, 5, 3000), rng.integers(0, 5, 500)
    baselines = count_baselines(train, val, 5)
    bigram = NGramModel(2, 5, "add-k", k=1.0).fit(train)
    five_gram = NGramModel(5, 5, "witten-bell").fit(train)
    assert baselines["bigram, add-1"] == pytest.approx(np.log(bigram.perplexity(val)))
    assert baselines["5-gram, Witten-Bell"] == pytest.approx(np.log(five_gram.perplexity(val)))
