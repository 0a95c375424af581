"""FLOPs counted by XLA for a microgpt model, and the peaks of the device at hand, measured.

``lmbase.flops`` counts a GPT's FLOPs from its shape; here XLA counts them: :func:`counted_flops`
lowers the loss (or its gradient) for abstract inputs (``jax.ShapeDtypeStruct``: nothing is
allocated or run) and reads the ``cost_analysis()`` of the lowered program, before the compiler
optimises it (compiling a 124M model's gradient takes far longer than lowering it). XLA counts
every operation, not only the matrix products: the softmax, LayerNorm, GELU and the loss add a
few per cent, more for a small model, where they weigh more against the matrices.

:func:`measured_matmul_flops` and :func:`measured_memory_bandwidth` mirror ``babygpt.flops``.
"""

import time

import jax
import jax.numpy as jnp

from .model import GPTConfig, init_params, loss_fn


def device_kind(device=None) -> str:
    """The device's kind as ``lmbase.flops``' tables match it ("TPU v3", "NVIDIA H100 ...", "cpu")."""
    device = jax.devices()[0] if device is None else device
    return device.device_kind


def counted_flops(config: GPTConfig, batch: int, seq: int | None = None, training: bool = True) -> float:
    """XLA's FLOP count of the cross-entropy of a ``(batch, seq)`` batch (``seq`` defaults to
    the context), or of its gradient with respect to every parameter when ``training``."""
    seq = config.context if seq is None else seq
    if batch < 1 or seq < 1:
        raise ValueError(f"batch={batch} and seq={seq} must be at least 1")
    params = jax.eval_shape(lambda: init_params(config))
    ids = jax.ShapeDtypeStruct((batch, seq), jnp.int32)

    def loss(p, x, y):
        return loss_fn(p, x, y, config)

    fn = jax.grad(loss) if training else loss
    return float(jax.jit(fn).lower(params, ids, ids).cost_analysis()["flops"])


def _seconds(fn, repeats: int) -> float:
    fn().block_until_ready()  # compiles and warms up
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    out.block_until_ready()
    return time.perf_counter() - start


def measured_matmul_flops(size: int = 2048, repeats: int = 5, dtype=jnp.float32) -> float:
    """FLOP/s of ``size``×``size`` matrix products on the default device."""
    a = jnp.ones((size, size), dtype)
    b = jnp.ones((size, size), dtype)
    product = jax.jit(lambda x, y: x @ y)
    return 2 * size**3 * repeats / _seconds(lambda: product(a, b), repeats)


def measured_memory_bandwidth(n_bytes: int = 2**28, repeats: int = 5) -> float:
    """Bytes/s of an elementwise pass over an ``n_bytes`` float32 array (it reads and writes each byte)."""
    x = jnp.ones((n_bytes // 4,), jnp.float32)
    scale = jax.jit(lambda v: v * 1.0001)
    return 2 * n_bytes * repeats / _seconds(lambda: scale(x), repeats)
