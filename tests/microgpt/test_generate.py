"""Generation: the KV cache, batching and the sliding window give exactly the tokens of uncached
generation of each prompt alone; sampling filters; streaming; the command line."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from microgpt import checkpoint
from microgpt.generate import (
    forward_cached, generate, main, next_token_probs, prefill, sample_next_token, stream,
)
from microgpt.model import GPTConfig, forward, init_params, seed_config

CONFIG = GPTConfig(vocab_size=30, context=16, n_layer=2, n_head=2, d_model=32)


def lively(config, seed=5, scale=30):
    """Parameters whose blocks have weights ``scale`` times their init, so that greedy decoding is
    not one repeated token and a wrong position or mask changes it."""
    p = init_params(config, seed=seed)
    p["blocks"] = jax.tree.map(lambda a: a * scale if a.ndim == 2 else a, p["blocks"])
    return p


BLOCKS = {  # each block style, with parameters whose greedy text is lively: (params, config)
    "pre_norm": lambda: (lively(CONFIG), CONFIG),
    "seed": lambda: (lively(config := seed_config(30, 32, n_layer=2, n_head=2, context=16)), config),
    "seed_normed_residual": lambda: (lively(config := GPTConfig(
        vocab_size=30, context=16, n_layer=2, n_head=2, d_model=32, block="seed_normed_residual", final_norm=False,
        ln_eps_inside_sqrt=False), seed=3, scale=100), config),
}


@pytest.fixture(scope="module")
def params():
    return lively(CONFIG)


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_greedy_with_cache_equals_without(block):
    params, config = BLOCKS[block]()
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    # 40 new tokens with context 16: the window slides twice, both paths the same way
    cached = generate(params, prompt, config, 40, temperature=0.0, use_cache=True)
    plain = generate(params, prompt, config, 40, temperature=0.0, use_cache=False)
    assert cached.shape == (2, 43)
    np.testing.assert_array_equal(cached[:, :3], prompt)
    np.testing.assert_array_equal(cached, plain)
    changes = (np.diff(cached[:, 3:], axis=1) != 0).sum()
    assert len(np.unique(cached[:, 3:])) >= 4 and changes >= 10  # a real sequence, not one token


@pytest.mark.parametrize("use_cache", [True, False])
def test_prompts_of_different_lengths_give_the_tokens_each_gives_alone(params, use_cache):
    # lengths 5, 1, 16 (a full window, which slides at once) and 10: each row slides at its own step
    prompts = [np.arange(5), np.array([7]), np.arange(16) % 30, np.arange(10, 20)]
    together = generate(params, prompts, CONFIG, 20, temperature=0.0, use_cache=use_cache)
    for prompt, row in zip(prompts, together):
        np.testing.assert_array_equal(row, generate(params, prompt, CONFIG, 20, temperature=0.0,
                                                    use_cache=use_cache)[0])


def test_cached_forward_at_each_rows_own_position_equals_a_full_pass(params):
    ids = jnp.asarray(np.random.default_rng(0).integers(0, 30, size=(3, 16)))
    full = forward(params, ids, CONFIG)
    # every row's cache holds positions 0..15; one new token per row at positions 2, 5 and 9:
    # the cached positions after it must stay hidden
    starts = jnp.array([2, 5, 9])
    logits, _ = forward_cached(params, ids[jnp.arange(3), starts][:, None], starts, prefill(params, ids, CONFIG),
                               CONFIG)
    np.testing.assert_allclose(logits[:, 0], full[jnp.arange(3), starts], atol=1e-5 * float(jnp.abs(full).max()))


def test_sampling_is_reproducible_and_same_with_cache(params):
    kwargs = dict(temperature=1.0, top_k=10, top_p=0.9, min_p=0.05, repetition_penalty=1.3, key=jax.random.key(7))
    a = generate(params, [[1, 2], [3, 4]], CONFIG, 24, **kwargs)
    b = generate(params, [[1, 2], [3, 4]], CONFIG, 24, **kwargs, use_cache=False)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, generate(params, [[1, 2], [3, 4]], CONFIG, 24, **kwargs))
    c = generate(params, [[1, 2], [3, 4]], CONFIG, 24, **dict(kwargs, key=jax.random.key(8)))
    # top_k keeps only the 10 likeliest tokens of each step: with top_k=1 sampling is greedy
    greedy = generate(params, [[1, 2], [3, 4]], CONFIG, 12, temperature=0.0)
    np.testing.assert_array_equal(generate(params, [[1, 2], [3, 4]], CONFIG, 12, temperature=1.0, top_k=1), greedy)
    np.testing.assert_array_equal(generate(params, [[1, 2], [3, 4]], CONFIG, 12, temperature=0.0,
                                           key=jax.random.key(9)), greedy)  # temperature 0 draws nothing
    assert not np.array_equal(a, c)


def test_stream_yields_the_tokens_generate_gives_one_step_at_a_time(params):
    settings = dict(temperature=0.9, top_p=0.95, key=jax.random.key(2))
    tokens = stream(params, [[1, 2, 3], [4, 5, 6]], CONFIG, 30, **settings)
    first = next(tokens)
    assert first.shape == (2,)
    streamed = np.stack([first, *tokens], axis=1)  # 30 steps in 30 calls, across two slides of the window
    np.testing.assert_array_equal(streamed, generate(params, [[1, 2, 3], [4, 5, 6]], CONFIG, 30, **settings)[:, 3:])


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
    # min_p=0.5: tokens at least half as likely as the likeliest (0.5): 0.5 and 0.3
    np.testing.assert_allclose(freq(min_p=0.5), [0.625, 0.375, 0, 0], atol=0.035)
    # a repetition penalty of 2 on token 0: its logit log(0.5) < 0 doubles, its probability squares
    seen = jnp.asarray([[True, False, False, False]])
    penalized = np.array([0.25, 0.3, 0.15, 0.05]) / 0.75
    np.testing.assert_allclose(freq(seen=seen, repetition_penalty=2.0), penalized, atol=0.035)
    assert freq(temperature=0.0)[0] == 1.0
    assert freq(top_k=1)[0] == 1.0
    # low temperature sharpens: p_i^(1/T) renormalised
    sharp = np.array([0.5, 0.3, 0.15, 0.05]) ** 2
    np.testing.assert_allclose(freq(temperature=0.5), sharp / sharp.sum(), atol=0.035)
    np.testing.assert_allclose(next_token_probs(logits, temperature=0.5)[0], sharp / sharp.sum(), atol=1e-6)


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
    with pytest.raises(ValueError, match="top_k=0 must be between 1 and vocab_size=30"):
        generate(params, [1], CONFIG, 3, top_k=0)
    with pytest.raises(ValueError, match="prompt is empty"):
        generate(params, np.zeros((1, 0), int), CONFIG, 3)
    # a negative temperature used to turn sampling greedy without a word; a negative length returned the prompt
    with pytest.raises(ValueError, match="temperature=-0.5 is negative, which is no distribution to sample"):
        generate(params, [1], CONFIG, 3, temperature=-0.5)
    with pytest.raises(ValueError, match="max_new_tokens=-1 is negative: ask for 0 or more new tokens"):
        generate(params, [1], CONFIG, -1)
    for top_p in (0.0, 1.5):
        with pytest.raises(ValueError, match=rf"top_p={top_p} is outside \(0, 1\]"):
            generate(params, [1], CONFIG, 3, top_p=top_p)
    for min_p in (1.0, -0.1):
        with pytest.raises(ValueError, match=rf"min_p={min_p} is outside \[0, 1\)"):
            generate(params, [1], CONFIG, 3, min_p=min_p)
    with pytest.raises(ValueError, match="repetition_penalty=0 must be above 0"):
        generate(params, [1], CONFIG, 3, repetition_penalty=0)
    long_prompt = np.zeros(17, int)
    with pytest.raises(ValueError, match=r"a prompt of 17 tokens does not fit the KV cache of this model's "
                                         r"context, 16 positions: crop it to its last 16 tokens, or pass use_cache"):
        generate(params, long_prompt, CONFIG, 3)
    assert generate(params, long_prompt, CONFIG, 3, use_cache=False).shape == (1, 20)  # cropped, as it says
    np.testing.assert_array_equal(generate(params, [[1, 2]], CONFIG, 0), [[1, 2]])  # none asked, none given


def test_the_command_line_streams_a_sample_from_a_checkpoint(params, tmp_path, capsys):
    chars = "\n !,.:;?abcdefghijklmnopqrstuv"  # 30 characters, sorted as CharTokenizer sorts them
    checkpoint.save(tmp_path, params, CONFIG, tokenizer_chars=chars)
    main(["--checkpoint", str(tmp_path), "--prompt", "ab", "--max-new-tokens", "20", "--seed", "4", "--top-k", "5"])
    printed = capsys.readouterr().out
    ids = [chars.index("a"), chars.index("b")]
    expected = generate(params, ids, CONFIG, 20, key=jax.random.key(4), temperature=0.8, top_k=5)[0, 2:]
    assert printed == "ab" + "".join(chars[i] for i in expected) + "\n"
