"""The GPT's small layers as pure functions of explicit parameters: LayerNorm, sinusoidal
positions, the feed-forward network and dropout.

Everything here is math on arrays, written from the equations ("Attention Is All You Need",
Vaswani et al. 2017; GPT-2, Radford et al. 2019). Parameters are plain dictionaries of arrays;
a matrix ``W`` is applied as ``x @ W`` with shape ``(in, out)``.
"""

import math

import jax
import jax.numpy as jnp


def layer_norm(x, params: dict, eps: float = 1e-5, eps_inside_sqrt: bool = True):
    """LayerNorm over the last axis: ``scale * (x - mean) / sigma + bias``.

    With ``eps_inside_sqrt`` (GPT-2, PyTorch) ``sigma = sqrt(var + eps)``; without it, the
    microGPT seed's form ``sigma = std + eps`` with the population std. The statistics are
    computed in float32 even when ``x`` is bfloat16, because a bf16 variance of a wide
    activation loses most of its digits.

    x: ``(..., d)``; params: ``{"scale": (d,), "bias": (d,)}``. Returns ``x``'s shape and dtype.
    """
    x32 = x.astype(jnp.float32)
    mean = x32.mean(axis=-1, keepdims=True)
    var = ((x32 - mean) ** 2).mean(axis=-1, keepdims=True)
    sigma = jnp.sqrt(var + eps) if eps_inside_sqrt else jnp.sqrt(var) + eps
    normed = (x32 - mean) / sigma
    return (normed * params["scale"].astype(jnp.float32) + params["bias"].astype(jnp.float32)).astype(x.dtype)


def sinusoidal_positions(n_positions: int, d_model: int, start: int | jax.Array = 0):
    """The fixed position code of Vaswani et al.: ``(n_positions, d_model)``, float32.

    Row ``p`` holds ``sin(p / 10000^(2i/d))`` in even column ``2i`` and ``cos`` of the same
    angle in odd column ``2i + 1``. ``start`` offsets the rows (a traced int is fine), which
    the KV-cache decoder uses to place one new token at its position.
    """
    if d_model % 2:
        raise ValueError(f"d_model={d_model} must be even for sin/cos position pairs, e.g. {d_model + 1}")
    positions = (start + jnp.arange(n_positions, dtype=jnp.float32))[:, None]
    frequencies = jnp.exp(-math.log(10000.0) * jnp.arange(0, d_model, 2, dtype=jnp.float32) / d_model)
    angles = positions * frequencies  # (n_positions, d_model / 2)
    # interleave: column 2i is sin, column 2i+1 is cos of the same angle
    return jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1).reshape(n_positions, d_model)


def feed_forward(params: dict, x):
    """``GELU(x @ w_in + b_in) @ w_out + b_out``, d -> 4d -> d, GELU in its tanh form.

    params: ``w_in (d, 4d)``, ``b_in (4d,)``, ``w_out (4d, d)``, ``b_out (d,)``; x ``(..., d)``.
    """
    hidden = jax.nn.gelu(x @ params["w_in"] + params["b_in"], approximate=True)
    return hidden @ params["w_out"] + params["b_out"]


def dropout(x, rate: float, key):
    """Inverted dropout: zero each entry with probability ``rate``, scale the rest by 1/(1-rate).

    With ``key=None`` or ``rate=0`` it is the identity, which is how evaluation runs.
    """
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def split_key(key, n: int) -> list:
    """``n`` independent keys from ``key``, or ``n`` Nones when ``key`` is None (no dropout)."""
    if key is None:
        return [None] * n
    return list(jax.random.split(key, n))
