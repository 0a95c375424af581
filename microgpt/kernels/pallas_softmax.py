"""A first Pallas kernel: the softmax of each row, a block of rows per program.

``pl.pallas_call`` runs the kernel once for every point of a grid; each ``BlockSpec`` says which
block of an array a program sees as a ``Ref`` it can read (``x_ref[...]``) and write. Here the grid
walks over blocks of ``block_rows`` rows, each program holds its whole rows and writes their safe
softmax once, as the Triton kernel of ``babygpt.kernels.triton_softmax`` does one row at a time.
"""

import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from . import pallas_interprets


def softmax_kernel(x_ref, y_ref):
    x = x_ref[...].astype(jnp.float32)  # (block_rows, n_cols), read once
    numerator = jnp.exp(x - x.max(axis=-1, keepdims=True))
    y_ref[...] = (numerator / numerator.sum(axis=-1, keepdims=True)).astype(y_ref.dtype)


@functools.partial(jax.jit, static_argnames="block_rows")
def pallas_softmax(x, block_rows: int = 8):
    """softmax(x) over the last axis: (..., n) -> (..., n), ``block_rows`` rows per program."""
    if block_rows < 1:
        raise ValueError(f"block_rows={block_rows} must be at least 1")
    rows = x.reshape(-1, x.shape[-1])
    padded = -(-rows.shape[0] // block_rows) * block_rows
    rows = jnp.pad(rows, ((0, padded - rows.shape[0]), (0, 0)))  # zeros: their softmax is discarded
    out = pl.pallas_call(
        softmax_kernel,
        grid=(padded // block_rows,),
        in_specs=[pl.BlockSpec((block_rows, rows.shape[1]), lambda i: (i, 0))],
        out_specs=pl.BlockSpec((block_rows, rows.shape[1]), lambda i: (i, 0)),
        out_shape=jax.ShapeDtypeStruct(rows.shape, x.dtype),
        interpret=pallas_interprets(),
    )(rows)
    return out[: x.size // x.shape[-1]].reshape(x.shape)
