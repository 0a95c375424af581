"""Generation: the KV cache gives exactly the tokens of uncached generation; sampling filters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from microgpt.generate import generate, sample_next_token
from microgpt.model import GPTConfig, init_params

CONFIG = GPTConfig(vocab_size=30, context=16, n_layer=2, n_head=2, d_model=32)


@pytest.fixture(scope="module")
def params():
    # blocks with weights 30x their init scale, so that greedy decoding is not one repeated token
    p = init_params(CONFIG, seed=5)
    p["blocks"] = jax.tree.map(lambda a: a * 30 if a.ndim == 2 else a, p["blocks"])
    return p


def test_greedy_with_cache_equals_without(params):
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    # 40 new tokens with context 16: the window slides twice, both paths the same way
    cached = generate(params, prompt, CONFIG, 40, temperature=0.0, use_cache=True)
    plain = generate(params, prompt, CONFIG, 40, temperature=0.0, use_cache=False)
    assert cached.shape == (2, 43)
    np.testing.assert_array_equal(cached[:, :3], prompt)
    np.testing.assert_array_equal(cached, plain)
    changes = (np.diff(cached[:, 3:], axis=1) != 0).sum()
    assert len(np.unique(cached[:, 3:])) >= 4 and changes >= 10  # a real sequence, not one token


def test_sampling_is_reproducible_and_same_with_cache(params):
    kwargs = dict(temperature=1.0, top_k=10, top_p=0.9, key=jax.random.key(7))
    a = generate(params, [[1, 2], [3, 4]], CONFIG, 12, **kwargs)
    b = generate(params, [[1, 2], [3, 4]], CONFIG, 12, **kwargs, use_cache=False)
    np.testing.assert_array_equal(a, b)
    c = generate(params, [[1, 2], [3, 4]], CONFIG, 12, **dict(kwargs, key=jax.random.key(8)))
    # top_k keeps only the 10 likeliest tokens of each step: with top_k=1 sampling is greedy
    greedy = generate(params, [[1, 2], [3, 4]], CONFIG, 12, temperature=0.0)
    np.testing.assert_array_equal(generate(params, [[1, 2], [3, 4]], CONFIG, 12, temperature=1.0, top_k=1), greedy)
    assert not np.array_equal(a, c)


def test_sample_filters():
    logits = jnp.log(jnp.asarray([[0.5, 0.3, 0.15, 0.05]]))
    keys = jax.random.split(jax.random.key(0), 4000)

    def freq(**kw):
        tokens = np.asarray(jax.vmap(lambda k: sample_next_token(logits, k, **kw)[0])(keys))
        return np.bincount(tokens, minlength=4) / len(tokens)

    # plain sampling follows the probabilities (4000 draws: 4 standard deviations is about 0.03)
    np.testing.assert_allclose(freq(), [0.5, 0.3, 0.15, 0.05], atol=0.035)
    np.testing.assert_allclose(freq(top_k=2), [0.625, 0.375, 0, 0], atol=0.035)
    # top_p=0.7: 0.5 alone is below 0.7, 0.5 + 0.3 reaches it, so two tokens remain
    np.testing.assert_allclose(freq(top_p=0.7), [0.625, 0.375, 0, 0], atol=0.035)
    np.testing.assert_allclose(freq(top_p=0.9), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0], atol=0.035)
    assert freq(temperature=0.0)[0] == 1.0
    assert freq(top_k=1)[0] == 1.0
    # low temperature sharpens: p_i^(1/T) renormalised
    sharp = np.array([0.5, 0.3, 0.15, 0.05]) ** 2
    np.testing.assert_allclose(freq(temperature=0.5), sharp / sharp.sum(), atol=0.035)


def test_top_p_keeps_the_smallest_set_that_reaches_p_on_an_exact_tie():
    # four tokens of probability 1/4 exactly: the running sums 0, 1/4, 1/2, 3/4 are exact in float32,
    # and 1/4 + 1/4 reaches top_p = 0.5, so a third token is not needed
    logits = jnp.zeros((1, 4))
    keys = jax.random.split(jax.random.key(0), 400)
    tokens = np.asarray(jax.vmap(lambda k: sample_next_token(logits, k, top_p=0.5)[0])(keys))
    assert len(np.unique(tokens)) == 2


def test_generation_errors(params):
    with pytest.raises(ValueError, match="token id 30 is outside the vocabulary"):
        generate(params, [1, 30], CONFIG, 3)
    with pytest.raises(ValueError, match="top_k=0"):
        generate(params, [1], CONFIG, 3, top_k=0)
    with pytest.raises(ValueError, match="prompt is empty"):
        generate(params, np.zeros((1, 0), int), CONFIG, 3)
    # a negative temperature used to turn sampling greedy without a word; a negative length returned the prompt
    with pytest.raises(ValueError, match="temperature=-0.5 is negative, which is no distribution to sample"):
        generate(params, [1], CONFIG, 3, temperature=-0.5)
    with pytest.raises(ValueError, match="max_new_tokens=-1 is negative: ask for 0 or more new tokens"):
        generate(params, [1], CONFIG, -1)
