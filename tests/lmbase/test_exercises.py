"""The numpy-only exercise checks: a right answer passes, wrong answers fail with a message that
says what is wrong, and a stub is reported as not answered."""

import numpy as np
import pytest

from babygpt.ngram import NGramModel
from lmbase.exercises import check_answer, check_bigram_perplexity


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
