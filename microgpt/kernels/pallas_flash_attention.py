"""FlashAttention as Pallas kernels, forward and backward, differentiable through ``jax.custom_vjp``.

The algorithm of FlashAttention-2 (Dao 2023), the one ``babygpt.kernels.flash_attention`` writes in
plain PyTorch and ``babygpt.kernels.triton_flash_attention`` in Triton: the forward kernel runs one
program per block of ``block_q`` queries of each head, walking over blocks of ``block_k`` keys with
the online softmax's running maximum, sum and weighted sum of values, and saves each query's
log-sum-exp ``L``; the backward kernels recompute the weights ``P = exp(S - L)`` block by block,
one program per block of keys for dK and dV and one per block of queries for dQ. Read JAX's own
Pallas flash-attention op beside it (``jax.experimental.pallas.ops``); this is written from the
paper's algorithms.

Inputs are laid out as microgpt's attention takes them, ``(batch, T, n_head, d_head)``, and the
result equals ``microgpt.attention.attend`` with a causal mask (``causal=True``) or none. The
sequence is padded with zeros to a multiple of the blocks; padded keys get a score of -inf and
padded queries are cut off. Blocks are computed in float32 whatever the inputs' dtype.
"""

import functools
import math

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from . import pallas_interprets


def _scores(q, k, q_start, k_start, seq_len, causal, scale):
    """S = q kᵀ · scale for one pair of blocks (float32), -inf where a query may not see a key."""
    s = (q @ k.T) * scale
    rows = q_start + jnp.arange(q.shape[0])[:, None]
    keys = k_start + jnp.arange(k.shape[0])[None, :]
    visible = keys < seq_len
    if causal:
        visible = visible & (keys <= rows)
    return jnp.where(visible, s, -jnp.inf)


def _key_blocks_seen(q_start, block_q, block_k, n_blocks, causal):
    """How many blocks of keys a block of queries starting at ``q_start`` sees."""
    if not causal:
        return n_blocks
    return jnp.minimum(pl.cdiv(q_start + block_q, block_k), n_blocks)


def forward_kernel(q_ref, k_ref, v_ref, o_ref, lse_ref, *, seq_len, block_k, causal):
    block_q, d_head = q_ref.shape
    scale = 1 / math.sqrt(d_head)
    q_start = pl.program_id(1) * block_q
    q = q_ref[...].astype(jnp.float32)

    def over_key_block(j, carry):
        m, l, acc = carry
        k = k_ref[pl.ds(j * block_k, block_k), :].astype(jnp.float32)
        v = v_ref[pl.ds(j * block_k, block_k), :].astype(jnp.float32)
        s = _scores(q, k, q_start, j * block_k, seq_len, causal, scale)
        m_new = jnp.maximum(m, s.max(axis=1))  # finite: every query sees key 0
        p = jnp.exp(s - m_new[:, None])
        rescale = jnp.exp(m - m_new)
        return m_new, l * rescale + p.sum(axis=1), acc * rescale[:, None] + p @ v

    start = (jnp.full(block_q, -jnp.inf), jnp.zeros(block_q), jnp.zeros((block_q, d_head)))
    n_blocks = _key_blocks_seen(q_start, block_q, block_k, k_ref.shape[0] // block_k, causal)
    m, l, acc = jax.lax.fori_loop(0, n_blocks, over_key_block, start)
    o_ref[...] = (acc / l[:, None]).astype(o_ref.dtype)
    lse_ref[...] = m + jnp.log(l)


def backward_dkdv_kernel(q_ref, k_ref, v_ref, do_ref, lse_ref, delta_ref, dk_ref, dv_ref, *, seq_len,
                         block_q, causal):
    block_k, d_head = k_ref.shape
    scale = 1 / math.sqrt(d_head)
    k_start = pl.program_id(1) * block_k
    k = k_ref[...].astype(jnp.float32)
    v = v_ref[...].astype(jnp.float32)

    def over_query_block(i, carry):
        dk, dv = carry
        rows = pl.ds(i * block_q, block_q)
        q, do = q_ref[rows, :].astype(jnp.float32), do_ref[rows, :].astype(jnp.float32)
        s = _scores(q, k, i * block_q, k_start, seq_len, causal, scale)
        p = jnp.exp(s - lse_ref[rows][:, None])  # the weights, recomputed
        ds = p * (do @ v.T - delta_ref[rows][:, None])
        return dk + ds.T @ q, dv + p.T @ do

    first = k_start // block_q if causal else 0  # causal: earlier queries see none of these keys
    zeros = jnp.zeros((block_k, d_head))
    dk, dv = jax.lax.fori_loop(first, q_ref.shape[0] // block_q, over_query_block, (zeros, zeros))
    dk_ref[...] = (dk * scale).astype(dk_ref.dtype)
    dv_ref[...] = dv.astype(dv_ref.dtype)


def backward_dq_kernel(q_ref, k_ref, v_ref, do_ref, lse_ref, delta_ref, dq_ref, *, seq_len, block_k,
                       causal):
    block_q, d_head = q_ref.shape
    scale = 1 / math.sqrt(d_head)
    q_start = pl.program_id(1) * block_q
    q, do = q_ref[...].astype(jnp.float32), do_ref[...].astype(jnp.float32)
    lse, delta = lse_ref[...], delta_ref[...]

    def over_key_block(j, dq):
        k = k_ref[pl.ds(j * block_k, block_k), :].astype(jnp.float32)
        v = v_ref[pl.ds(j * block_k, block_k), :].astype(jnp.float32)
        p = jnp.exp(_scores(q, k, q_start, j * block_k, seq_len, causal, scale) - lse[:, None])
        return dq + (p * (do @ v.T - delta[:, None])) @ k

    n_blocks = _key_blocks_seen(q_start, block_q, block_k, k_ref.shape[0] // block_k, causal)
    dq = jax.lax.fori_loop(0, n_blocks, over_key_block, jnp.zeros((block_q, d_head)))
    dq_ref[...] = (dq * scale).astype(dq_ref.dtype)


def _heads_first(x, padded):
    """(batch, T, n_head, d_head) -> (batch · n_head, padded T, d_head), zeros after T."""
    batch, seq, n_head, d_head = x.shape
    x = x.transpose(0, 2, 1, 3).reshape(batch * n_head, seq, d_head)
    return jnp.pad(x, ((0, 0), (0, padded - seq), (0, 0)))


def _blocks(block, padded, d_head):
    """The BlockSpecs of one block of rows of a (heads, T, d_head) array, and of all of its rows."""
    one = pl.BlockSpec((None, block, d_head), lambda h, i: (h, i, 0))
    every = pl.BlockSpec((None, padded, d_head), lambda h, i: (h, 0, 0))
    return one, every


def _forward(q, k, v, causal, block_q, block_k):
    batch, seq, n_head, d_head = q.shape
    padded = -(-seq // max(block_q, block_k)) * max(block_q, block_k)
    qh, kh, vh = (_heads_first(x, padded) for x in (q, k, v))
    one_q, every = _blocks(block_q, padded, d_head)
    out, lse = pl.pallas_call(
        functools.partial(forward_kernel, seq_len=seq, block_k=block_k, causal=causal),
        grid=(batch * n_head, padded // block_q),
        in_specs=[one_q, every, every],
        out_specs=[one_q, pl.BlockSpec((None, block_q), lambda h, i: (h, i))],
        out_shape=[jax.ShapeDtypeStruct(qh.shape, q.dtype),
                   jax.ShapeDtypeStruct(qh.shape[:2], jnp.float32)],
        interpret=pallas_interprets(),
    )(qh, kh, vh)
    result = out[:, :seq].reshape(batch, n_head, seq, d_head).transpose(0, 2, 1, 3)
    return result, (qh, kh, vh, out, lse)


def _backward(causal, block_q, block_k, saved, grad_out):
    qh, kh, vh, out, lse = saved
    heads, padded, d_head = qh.shape
    batch, seq, n_head, _ = grad_out.shape
    do = _heads_first(grad_out, padded)
    delta = (do.astype(jnp.float32) * out.astype(jnp.float32)).sum(axis=-1)  # D = rowsum(dO ∘ O)
    one_q, every = _blocks(block_q, padded, d_head)
    one_k, _ = _blocks(block_k, padded, d_head)
    every_row = pl.BlockSpec((None, padded), lambda h, i: (h, 0))
    one_row = pl.BlockSpec((None, block_q), lambda h, i: (h, i))
    dk, dv = pl.pallas_call(
        functools.partial(backward_dkdv_kernel, seq_len=seq, block_q=block_q, causal=causal),
        grid=(heads, padded // block_k),
        in_specs=[every, one_k, one_k, every, every_row, every_row],
        out_specs=[one_k, one_k],
        out_shape=[jax.ShapeDtypeStruct(kh.shape, kh.dtype), jax.ShapeDtypeStruct(vh.shape, vh.dtype)],
        interpret=pallas_interprets(),
    )(qh, kh, vh, do, lse, delta)
    dq = pl.pallas_call(
        functools.partial(backward_dq_kernel, seq_len=seq, block_k=block_k, causal=causal),
        grid=(heads, padded // block_q),
        in_specs=[one_q, every, every, one_q, one_row, one_row],
        out_specs=one_q,
        out_shape=jax.ShapeDtypeStruct(qh.shape, qh.dtype),
        interpret=pallas_interprets(),
    )(qh, kh, vh, do, lse, delta)
    return tuple(g[:, :seq].reshape(batch, n_head, seq, d_head).transpose(0, 2, 1, 3) for g in (dq, dk, dv))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _flash_attention(q, k, v, causal, block_q, block_k):
    return _forward(q, k, v, causal, block_q, block_k)[0]


_flash_attention.defvjp(_forward, _backward)


def pallas_flash_attention(q, k, v, causal: bool = True, block_q: int = 64, block_k: int = 64):
    """softmax(q kᵀ / √d_head) v by the Pallas kernels, differentiable by ``jax.grad``.

    q, k, v: (batch, T, n_head, d_head), one shape; blocks are powers of 2. Returns
    (batch, T, n_head, d_head) in q's dtype: ``microgpt.attention.attend(q, k, v, mask)`` with
    the causal mask (``causal=True``) or with none.
    """
    if q.ndim != 4 or q.shape != k.shape or k.shape != v.shape:
        raise ValueError(f"q {q.shape}, k {k.shape} and v {v.shape}: the kernel attends a sequence to itself, "
                         f"so give all three as (batch, T, n_head, d_head)")
    for name, block in (("block_q", block_q), ("block_k", block_k)):
        if block < 1 or block & (block - 1):
            raise ValueError(f"{name}={block} must be a power of 2, such as 64")
    return _flash_attention(q, k, v, causal, block_q, block_k)
