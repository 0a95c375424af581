"""The model: the seed's parameter counts, a float64 numpy reference forward, causality, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from microgpt.model import GPTConfig, count_params, count_params_formula, forward, init_params, loss_fn, seed_config
from microgpt.seed import micro_gpt_1, micro_gpt_2, micro_gpt_4


@pytest.mark.parametrize("stack, vocab, d, expected", [
    (micro_gpt_4, 9000, 512, 17_205_248),
    (micro_gpt_4, 8000, 384, 10_160_640),
    (micro_gpt_1, 8000, 384, 4_844_160),
    (micro_gpt_2, 8000, 384, 6_616_320),
])
def test_seed_parameter_counts(stack, vocab, d, expected):
    assert stack(vocab=vocab, model_d=d).count_params() == expected


def test_named_seed_configs_have_the_published_counts():
    for name, expected in (("seed-17m", 17_205_248), ("seed-10m", 10_160_640)):
        config = GPTConfig.named(name)
        assert count_params_formula(config) == expected
        assert count_params(jax.eval_shape(lambda: init_params(config))) == expected


def test_seed_parameter_names():
    assert list(micro_gpt_4(50, 16).get_params()) == [
        "embed", "ln1", "attn1", "ffn1_fc", "ffn1_proj", "ln2", "attn2", "ffn2_fc", "ffn2_proj",
        "ln3", "attn3", "ffn3_fc", "ffn3_proj", "ln4", "attn4", "ffn4_fc", "ffn4_proj"]
    assert list(micro_gpt_2(50, 16).get_params()) == [
        "embed", "ln1", "attn1", "ffn1_fc", "ffn2_fc", "ln2", "attn2", "ffn3_fc", "ffn4_fc"]


def test_seed_blocks_start_identical_and_corrected_blocks_do_not():
    seed_params = micro_gpt_4(50, 16).get_params()
    np.testing.assert_array_equal(seed_params["attn1"]["W_Q"], seed_params["attn4"]["W_Q"])
    default = init_params(GPTConfig(vocab_size=50, context=8, n_layer=2, n_head=2, d_model=16))
    assert not np.allclose(default["blocks"][0]["attn"]["w_q"], default["blocks"][1]["attn"]["w_q"])
    # seeded: the same seed gives the same numbers, another seed others
    again = micro_gpt_4(50, 16).get_params()
    np.testing.assert_array_equal(seed_params["ffn2_fc"]["W"], again["ffn2_fc"]["W"])
    other = micro_gpt_4(50, 16, seed=1).get_params()
    assert not np.allclose(seed_params["ffn2_fc"]["W"], other["ffn2_fc"]["W"])


# ---- an independent float64 numpy forward, written from the equations -----------------------

def np_layer_norm(x, p, inside):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / (np.sqrt(var + 1e-5) if inside else np.sqrt(var) + 1e-5) * p["scale"] + p["bias"]


def np_attention(x, p, n_head):
    t, d = x.shape
    hd = d // n_head
    q, k, v = x @ p["w_q"], x @ p["w_k"], x @ p["w_v"]
    out = np.zeros_like(x)
    for h in range(n_head):
        cols = slice(h * hd, (h + 1) * hd)
        scores = q[:, cols] @ k[:, cols].T / np.sqrt(hd)
        scores[np.triu_indices(t, 1)] = -np.inf
        w = np.exp(scores - scores.max(-1, keepdims=True))
        out[:, cols] = (w / w.sum(-1, keepdims=True)) @ v[:, cols]
    return out @ p["w_o"]


def np_ffn(x, p):
    h = x @ p["w_in"] + p["b_in"]
    return 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3))) @ p["w_out"] + p["b_out"]


def np_forward(params, tokens, config):
    params = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    t, d = len(tokens), config.d_model
    pos = np.zeros((t, d))
    for p in range(t):
        for i in range(d // 2):
            pos[p, 2 * i], pos[p, 2 * i + 1] = np.sin(p / 10000 ** (2 * i / d)), np.cos(p / 10000 ** (2 * i / d))
    x = params["embed"][tokens] * np.sqrt(d) + pos
    inside = config.ln_eps_inside_sqrt
    for b in params["blocks"]:
        if config.block == "pre_norm":
            x = x + np_attention(np_layer_norm(x, b["ln1"], inside), b["attn"], config.n_head)
            x = x + np_ffn(np_layer_norm(x, b["ln2"], inside), b["ffn"])
        elif config.block == "seed":
            h = x + np_attention(np_layer_norm(x, b["ln1"], inside), b["attn"], config.n_head)
            x = h + np_ffn(h, b["ffn"])
        else:
            n = np_layer_norm(x, b["ln1"], inside)
            h = n + np_attention(n, b["attn"], config.n_head)
            x = h + np_ffn(h, b["ffn"])
    if config.final_norm:
        x = np_layer_norm(x, params["ln_f"], inside)
    return x @ params["embed"].T


def randomised(params, seed=3):
    """Parameters with random LayerNorm scales/biases and FFN biases, so every term is exercised."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(treedef, [l + 0.1 * jax.random.normal(k, l.shape) for l, k in zip(leaves, keys)])


@pytest.mark.parametrize("config", [
    GPTConfig(vocab_size=40, context=16, n_layer=2, n_head=4, d_model=32),
    seed_config(40, 32, n_layer=2, n_head=4, context=16),
    GPTConfig(vocab_size=40, context=16, n_layer=2, n_head=4, d_model=32, block="seed_normed_residual",
              final_norm=False, shared_block_init=True, ln_eps_inside_sqrt=False),
], ids=["pre_norm", "seed", "seed_normed_residual"])
def test_forward_matches_float64_numpy(config):
    params = randomised(init_params(config, seed=1))
    tokens = np.array([[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]])
    got = np.asarray(forward(params, jnp.asarray(tokens), config))
    np.testing.assert_allclose(got[0], np_forward(params, tokens[0], config), rtol=2e-4, atol=2e-4)


def test_seed_run_fn_equals_forward():
    gpt = micro_gpt_2(vocab=30, model_d=16, context=10)
    params = gpt.get_params()
    ids = jnp.asarray([[1, 2, 3, 4, 5]])
    run = jax.jit(gpt.run_fn, static_argnames=["num_heads"])
    expected = np_forward(gpt.from_seed_names(params), np.asarray(ids[0]), gpt.config(4))
    np.testing.assert_allclose(np.asarray(run(ids, params, num_heads=4))[0], expected, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("block", ["pre_norm", "seed"])
def test_changing_a_later_token_never_changes_earlier_logits(block):
    config = GPTConfig(vocab_size=20, context=12, n_layer=2, n_head=2, d_model=16, block=block)
    params = init_params(config)
    tokens = np.random.default_rng(0).integers(0, 20, size=(1, 12))
    base = np.asarray(forward(params, jnp.asarray(tokens), config))
    for t in range(11):
        changed = tokens.copy()
        changed[0, t + 1] = (changed[0, t + 1] + 7) % 20
        out = np.asarray(forward(params, jnp.asarray(changed), config))
        np.testing.assert_array_equal(out[0, : t + 1], base[0, : t + 1])
        assert not np.allclose(out[0, t + 1], base[0, t + 1])


def test_initial_loss_is_about_log_vocab():
    config = GPTConfig.named("tiny")
    tokens = jax.random.randint(jax.random.key(0), (4, 64), 0, 65)
    targets = jax.random.randint(jax.random.key(1), (4, 64), 0, 65)
    assert abs(float(loss_fn(init_params(config), tokens, targets, config)) - np.log(65)) < 0.1


def test_errors_name_the_value_and_the_fix():
    with pytest.raises(ValueError, match="d_model=30 is not divisible by n_head=4"):
        GPTConfig(vocab_size=10, context=8, n_layer=1, n_head=4, d_model=30)
    config = GPTConfig(vocab_size=10, context=8, n_layer=1, n_head=2, d_model=8)
    params = init_params(config)
    with pytest.raises(ValueError, match="sequence length 9 exceeds the context of 8"):
        forward(params, jnp.zeros((1, 9), jnp.int32), config)
    with pytest.raises(ValueError, match=r"token id 10 is outside the vocabulary \[0, 10\)"):
        forward(params, jnp.asarray([[1, 10]]), config)
    with pytest.raises(ValueError, match="token id -1"):
        forward(params, np.asarray([[-1, 2]]), config)
    with pytest.raises(KeyError, match="the named ones are"):
        GPTConfig.named("gpt-5")
