"""Attention against jax.nn.dot_product_attention, and the KV-cache step against full attention."""

import jax
import jax.numpy as jnp
import numpy as np

from microgpt.attention import attention_with_kv, cached_attention, causal_self_attention, split_heads


def make(d=32, batch=2, seq=9, seed=0):
    keys = jax.random.split(jax.random.key(seed), 5)
    params = {name: 0.2 * jax.random.normal(k, (d, d)) for name, k in zip(("w_q", "w_k", "w_v", "w_o"), keys)}
    x = jax.random.normal(keys[4], (batch, seq, d))
    return params, x


def test_matches_jax_dot_product_attention():
    params, x = make()
    n_head = 4
    q, k, v = (split_heads(x @ params[n], n_head) for n in ("w_q", "w_k", "w_v"))
    reference = jax.nn.dot_product_attention(q, k, v, is_causal=True).reshape(x.shape) @ params["w_o"]
    np.testing.assert_allclose(causal_self_attention(params, x, n_head), reference, rtol=1e-5, atol=1e-5)


def test_heads_are_contiguous_column_blocks():
    params, x = make()
    # head 1 of 4 uses columns 8:16 of q, k and v: zeroing them changes only output columns 8:16
    # before the output projection, so compare with w_o = identity
    p = dict(params, w_o=jnp.eye(32))
    out = causal_self_attention(p, x, 4)
    p2 = dict(p, w_v=p["w_v"].at[:, 8:16].set(0.0))
    out2 = causal_self_attention(p2, x, 4)
    np.testing.assert_allclose(out[..., :8], out2[..., :8], atol=1e-6)
    np.testing.assert_allclose(out2[..., 8:16], 0.0, atol=1e-6)
    assert not np.allclose(out[..., 8:16], 0.0)


def test_cached_steps_equal_full_attention():
    params, x = make(seq=7)
    n_head, context = 4, 12
    full, (k, v) = attention_with_kv(params, x, n_head)
    cache = (jnp.zeros((2, context, 4, 8)), jnp.zeros((2, context, 4, 8)))
    for t in range(x.shape[1]):
        out, cache = cached_attention(params, x[:, t:t + 1], n_head, cache, t)
        np.testing.assert_allclose(out[:, 0], full[:, t], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cache[0][:, :7], k, atol=1e-6)
    np.testing.assert_allclose(cache[1][:, :7], v, atol=1e-6)
