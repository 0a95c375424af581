"""microgpt.kernels' Pallas kernels, interpreted on the CPU (pallas_call(interpret=True)), against
jax.nn.softmax and microgpt's own attention (microgpt.attention.attend), in value and gradients."""

import jax
import jax.numpy as jnp
import pytest

from microgpt.attention import attend, causal_self_attention, split_heads
from microgpt.kernels import pallas_interprets
from microgpt.kernels.pallas_flash_attention import pallas_flash_attention
from microgpt.kernels.pallas_softmax import pallas_softmax


def test_on_the_cpu_the_kernels_are_interpreted():
    assert jax.default_backend() != "cpu" or pallas_interprets()


def test_pallas_softmax_equals_jax_softmax_on_ragged_rows_and_minus_inf():
    x = jax.random.normal(jax.random.key(0), (3, 5, 40)) * 1e3
    x = x.at[0, 1, :30].set(-jnp.inf).at[2, 4, 7].set(1e30)
    assert jnp.allclose(pallas_softmax(x, block_rows=4), jax.nn.softmax(x, axis=-1), atol=1e-7, rtol=1e-6)
    with pytest.raises(ValueError, match="block_rows=0"):
        pallas_softmax(x, block_rows=0)


@pytest.mark.parametrize("causal, seq, d_head, block_q, block_k", [
    (True, 45, 32, 16, 32),  # ragged: 45 is not a multiple of the blocks
    (False, 45, 64, 32, 16),
    (True, 64, 128, 32, 32),
])
def test_pallas_attention_equals_microgpts_attention_in_value_and_gradients(causal, seq, d_head, block_q, block_k):
    keys = jax.random.split(jax.random.key(seq + d_head), 4)
    q, k, v, grad = (jax.random.normal(key, (2, seq, 2, d_head)) for key in keys)
    mask = jnp.tril(jnp.ones((seq, seq), bool)) if causal else jnp.ones((seq, seq), bool)

    def ours(q, k, v):
        return (pallas_flash_attention(q, k, v, causal, block_q, block_k) * grad).sum()

    def theirs(q, k, v):
        return (attend(q, k, v, mask) * grad).sum()

    out = pallas_flash_attention(q, k, v, causal, block_q, block_k)
    assert jnp.abs(out - attend(q, k, v, mask)).max() < 2e-6
    for name, got, want in zip("qkv", jax.grad(ours, (0, 1, 2))(q, k, v), jax.grad(theirs, (0, 1, 2))(q, k, v)):
        assert jnp.abs(got - want).max() < 1e-5, name


def test_a_microgpt_attention_layer_trains_the_same_through_the_kernel():
    d, n_head, seq = 64, 2, 24
    keys = jax.random.split(jax.random.key(1), 5)
    params = {name: jax.random.normal(key, (d, d)) / 8 for name, key in zip(("w_q", "w_k", "w_v", "w_o"), keys)}
    x = jax.random.normal(keys[4], (2, seq, d))

    def with_kernel(params):
        q, k, v = (split_heads(x @ params[w], n_head) for w in ("w_q", "w_k", "w_v"))
        out = pallas_flash_attention(q, k, v, causal=True, block_q=16, block_k=16)
        return jnp.square(out.reshape(2, seq, d) @ params["w_o"]).mean()

    def reference(params):
        return jnp.square(causal_self_attention(params, x, n_head)).mean()

    assert abs(with_kernel(params) - reference(params)) < 1e-6
    got, want = jax.grad(with_kernel)(params), jax.grad(reference)(params)
    for name in params:
        assert jnp.abs(got[name] - want[name]).max() < 1e-6, name


def test_bad_inputs_get_errors_that_name_the_value_and_the_fix():
    q = jnp.zeros((1, 16, 2, 32))
    with pytest.raises(ValueError, match=r"give all three as \(batch, T, n_head, d_head\)"):
        pallas_flash_attention(q, q[:, :8], q[:, :8])
    with pytest.raises(ValueError, match="block_k=24 must be a power of 2"):
        pallas_flash_attention(q, q, q, block_k=24)
