"""Causal multi-head self-attention, for a whole sequence and for new tokens with a KV cache.

Four bias-free ``(d, d)`` projections ``w_q, w_k, w_v, w_o`` applied as ``x @ W``; head ``h``
owns the contiguous columns ``h*hd : (h+1)*hd`` (``hd = d / n_head``), as in the microGPT seed.
Scores are scaled by ``1 / sqrt(hd)`` and masked so that position ``t`` sees positions ``<= t``.
The softmax runs in float32 whatever the compute dtype.
"""

import math

import jax
import jax.numpy as jnp

from .layers import dropout


def split_heads(x, n_head: int):
    """``(batch, seq, d)`` -> ``(batch, seq, n_head, d / n_head)``: head h is columns h*hd..(h+1)*hd."""
    batch, seq, d = x.shape
    return x.reshape(batch, seq, n_head, d // n_head)


def attend(q, k, v, mask, *, dropout_rate: float = 0.0, key=None):
    """Softmax attention of queries over keys where ``mask`` is True.

    q: ``(batch, q_len, n_head, hd)``; k, v: ``(batch, k_len, n_head, hd)``;
    mask: broadcastable to ``(batch, n_head, q_len, k_len)``. Returns ``(batch, q_len, n_head, hd)``.
    """
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k).astype(jnp.float32) / math.sqrt(q.shape[-1])
    scores = jnp.where(mask, scores, jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    weights = dropout(weights, dropout_rate, key)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, v)


def attention_with_kv(params: dict, x, n_head: int, *, dropout_rate: float = 0.0, key=None):
    """Causal self-attention over a whole sequence, also returning its keys and values.

    x: ``(batch, seq, d)``. Returns ``(out (batch, seq, d), (k, v))`` with k, v of shape
    ``(batch, seq, n_head, hd)``: the prefill of a KV cache.
    """
    batch, seq, d = x.shape
    q = split_heads(x @ params["w_q"], n_head)
    k = split_heads(x @ params["w_k"], n_head)
    v = split_heads(x @ params["w_v"], n_head)
    causal = jnp.tril(jnp.ones((seq, seq), dtype=bool))
    out = attend(q, k, v, causal, dropout_rate=dropout_rate, key=key).reshape(batch, seq, d)
    return out @ params["w_o"], (k, v)


def causal_self_attention(params: dict, x, n_head: int, *, dropout_rate: float = 0.0, key=None):
    """Causal multi-head self-attention: ``(batch, seq, d)`` -> ``(batch, seq, d)``."""
    out, _ = attention_with_kv(params, x, n_head, dropout_rate=dropout_rate, key=key)
    return out


def cached_attention(params: dict, x, n_head: int, cache: tuple, position):
    """Attention of new tokens at positions ``position ..`` over the cached keys and values.

    x: ``(batch, seq, d)``, usually one token (seq 1); ``position``: an int or a ``(batch,)``
    array of one start per row (rows of prompts of different lengths stand at different
    positions). cache: ``(k, v)``, each ``(batch, context, n_head, hd)``, filled for the
    positions before. The new keys and values are written at their positions and each token
    attends to its row's positions up to its own. Returns ``(out (batch, seq, d), new cache)``.
    """
    batch, seq, d = x.shape
    q = split_heads(x @ params["w_q"], n_head)
    k_new = split_heads(x @ params["w_k"], n_head)
    v_new = split_heads(x @ params["w_v"], n_head)
    k_cache, v_cache = cache
    positions = jnp.broadcast_to(jnp.reshape(position, (-1, 1)), (batch, 1)) + jnp.arange(seq)  # (batch, seq)
    rows = jnp.arange(batch)[:, None]
    k_cache = k_cache.at[rows, positions].set(k_new.astype(k_cache.dtype))
    v_cache = v_cache.at[rows, positions].set(v_new.astype(v_cache.dtype))
    visible = jnp.arange(k_cache.shape[1]) <= positions[:, None, :, None]  # (batch, 1, seq, context)
    out = attend(q, k_cache, v_cache, visible).reshape(batch, seq, d)
    return out @ params["w_o"], (k_cache, v_cache)
