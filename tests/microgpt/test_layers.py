"""Layers against float64 numpy recomputations of their equations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from microgpt.layers import dropout, feed_forward, layer_norm, sinusoidal_positions, split_key


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(2.0, 3.0, size=(3, 5, 16)).astype(np.float32)


def ln_params(d, rng=np.random.default_rng(1)):
    return {"scale": rng.normal(size=d).astype(np.float32), "bias": rng.normal(size=d).astype(np.float32)}


@pytest.mark.parametrize("spread", [3.0, 1e-3])
@pytest.mark.parametrize("inside", [True, False])
def test_layer_norm_matches_float64(x, inside, spread):
    # spread 1e-3: rows whose variance (about 1e-6) is below eps, where the two forms of sigma part ways
    x = (x - 2.0) * (spread / 3.0)
    p = ln_params(16)
    x64 = x.astype(np.float64)
    mean = x64.mean(-1, keepdims=True)
    var = x64.var(-1, keepdims=True)  # population variance, as both forms use
    sigma = np.sqrt(var + 1e-5) if inside else np.sqrt(var) + 1e-5
    expected = (x64 - mean) / sigma * p["scale"] + p["bias"]
    got = layer_norm(jnp.asarray(x), {k: jnp.asarray(v) for k, v in p.items()}, 1e-5, inside)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)


def test_layer_norm_forms_differ_on_small_variance():
    # the seed's eps outside the root matters when the spread is tiny: the two forms must differ
    x = jnp.asarray([[0.0, 1e-3, -1e-3, 0.0]])
    p = {"scale": jnp.ones(4), "bias": jnp.zeros(4)}
    assert not np.allclose(layer_norm(x, p, 1e-5, True), layer_norm(x, p, 1e-5, False), rtol=1e-3)


def test_layer_norm_keeps_bfloat16(x):
    out = layer_norm(jnp.asarray(x, jnp.bfloat16), {k: jnp.asarray(v) for k, v in ln_params(16).items()})
    assert out.dtype == jnp.bfloat16


def test_sinusoidal_positions_formula():
    n, d = 7, 12
    got = np.asarray(sinusoidal_positions(n, d))
    for p in range(n):
        for i in range(d // 2):
            angle = p / 10000 ** (2 * i / d)
            assert got[p, 2 * i] == pytest.approx(np.sin(angle), abs=1e-5)
            assert got[p, 2 * i + 1] == pytest.approx(np.cos(angle), abs=1e-5)
    np.testing.assert_allclose(np.asarray(sinusoidal_positions(3, d, start=4)), got[4:7], atol=1e-5)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positions(3, 5)


def test_feed_forward_is_tanh_gelu_mlp(x):
    rng = np.random.default_rng(2)
    p = {"w_in": rng.normal(size=(16, 64)) * 0.1, "b_in": rng.normal(size=64),
         "w_out": rng.normal(size=(64, 16)) * 0.1, "b_out": rng.normal(size=16)}
    h = x.astype(np.float64) @ p["w_in"] + p["b_in"]
    gelu = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3)))
    expected = gelu @ p["w_out"] + p["b_out"]
    got = feed_forward({k: jnp.asarray(v, jnp.float32) for k, v in p.items()}, jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-4)


def test_dropout_identity_without_key_and_unbiased_with_one():
    x = jnp.ones((200, 200))
    assert dropout(x, 0.5, None) is x
    y = np.asarray(dropout(x, 0.25, jax.random.key(0)))
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs((y == 0).mean() - 0.25) < 0.01  # 40,000 draws: 5 standard deviations is 0.011
    assert abs(y.mean() - 1.0) < 0.02


def test_split_key_gives_distinct_keys_so_no_two_dropouts_share_a_mask():
    keys = split_key(jax.random.key(0), 4)
    assert len({tuple(np.asarray(jax.random.key_data(k)).ravel()) for k in keys}) == 4
    masks = [np.asarray(dropout(jnp.ones(64), 0.5, k)) for k in keys]
    assert len({m.tobytes() for m in masks}) == 4
    assert split_key(None, 3) == [None, None, None]  # no key, no dropout, in every place
