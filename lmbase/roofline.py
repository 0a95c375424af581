"""The roofline model (Williams, Waterman and Patterson 2009), framework-free.

A kernel that does ``F`` FLOPs while moving ``B`` bytes to and from the device's main memory has
arithmetic intensity ``I = F / B`` FLOPs per byte. On a device of peak ``P`` FLOP/s and memory
bandwidth ``W`` bytes/s it cannot go faster than ``min(P, I * W)``: below the ridge intensity
``P / W`` it is bound by memory, above it by compute.

The intensities here are those of a GPT's kernels, counting each operand read once and each
result written once:

* a matrix product ``(m, k) @ (k, n)``: ``2 m k n`` FLOPs over ``(m k + k n + m n)`` numbers;
  in a transformer ``m`` is the number of tokens in the step (batch x context when training or
  reading a prompt, the batch alone when decoding one token), ``k x n`` a weight matrix;
* attention of ``q_len`` queries against ``kv_len`` keys and values per head, fused (the scores
  stay on chip, as in FlashAttention): ``4 q_len kv_len d_head`` FLOPs over the queries, keys,
  values and outputs. Decoding has ``q_len = 1``: about one FLOP per byte, whatever the batch.
"""

import numpy as np

from .checks import check_at_least_one

PHASES = ("training", "prefill", "decode")


def matmul_intensity(m: int, k: int, n: int, bytes_per_value: int = 2) -> float:
    """FLOPs per byte of ``(m, k) @ (k, n)``: ``2 m k n / (b (m k + k n + m n))``."""
    check_at_least_one(m=m, k=k, n=n, bytes_per_value=bytes_per_value)
    return 2.0 * m * k * n / (bytes_per_value * (m * k + k * n + m * n))


def attention_intensity(q_len: int, kv_len: int, d_head: int, bytes_per_value: int = 2) -> float:
    """FLOPs per byte of fused attention for one head: ``4 q kv d / (b d (2 q + 2 kv))``
    (read Q, K and V, write O; the batch and the heads scale FLOPs and bytes alike)."""
    check_at_least_one(q_len=q_len, kv_len=kv_len, d_head=d_head, bytes_per_value=bytes_per_value)
    return 4.0 * q_len * kv_len * d_head / (bytes_per_value * d_head * (2 * q_len + 2 * kv_len))


def tokens_per_step(phase: str, batch: int, context: int) -> int:
    """Rows of the activations a weight matrix multiplies in one step: ``batch x context`` when
    training or reading a prompt, ``batch`` when decoding one token per sequence."""
    if phase not in PHASES:
        raise ValueError(f"phase={phase!r} is unknown: use one of {PHASES}")
    check_at_least_one(batch=batch, context=context)
    return batch if phase == "decode" else batch * context


def ridge_intensity(peak_flops: float, bandwidth: float) -> float:
    """The intensity ``P / W`` where a kernel stops being memory-bound."""
    if peak_flops <= 0 or bandwidth <= 0:
        raise ValueError(f"peak_flops={peak_flops} and bandwidth={bandwidth} must be positive")
    return peak_flops / bandwidth


def attainable_flops(intensity, peak_flops: float, bandwidth: float):
    """The roofline: ``min(P, I * W)`` FLOP/s (``intensity`` a number or a numpy array)."""
    ridge_intensity(peak_flops, bandwidth)  # checks both
    return np.minimum(peak_flops, np.asarray(intensity, dtype=float) * bandwidth)
