"""A first Triton kernel: the softmax of each row of a matrix, one row per program.

Written unfused, ``x.softmax(-1)`` in eager PyTorch reads the row from memory for its maximum, again
for the sum of exponentials, and once more to write the output. Here one program loads its whole
row into registers once, computes the safe softmax there (subtract the maximum, exponentiate,
divide by the sum) and writes the result once: one read and one write per number. Following the
fused-softmax tutorial of Triton (Tillet et al. 2019); a row must fit in one block, which holds
for the vocabularies and contexts of this course (up to 65,536 columns).
"""

import torch
import triton
import triton.language as tl

from . import triton_interprets

MAX_COLUMNS = 65_536


@triton.jit
def softmax_kernel(x_ptr, y_ptr, n_cols, row_stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)  # one program for each row
    cols = tl.arange(0, BLOCK)  # BLOCK is n_cols rounded up to a power of 2
    x = tl.load(x_ptr + row * row_stride + cols, mask=cols < n_cols, other=float("-inf"))
    x = x.to(tl.float32)
    numerator = tl.exp(x - tl.max(x, axis=0))  # the padding's -inf gives exp(-inf) = 0
    y = numerator / tl.sum(numerator, axis=0)
    tl.store(y_ptr + row * row_stride + cols, y.to(y_ptr.dtype.element_ty), mask=cols < n_cols)


def check_kernel_device(x: torch.Tensor) -> None:
    """Triton's interpreter runs on CPU tensors, its compiled kernels on CUDA tensors."""
    wanted = "cpu" if triton_interprets() else "cuda"
    if x.device.type != wanted:
        mode = "interprets kernels (TRITON_INTERPRET=1)" if wanted == "cpu" else "compiles kernels for the GPU"
        raise ValueError(f"the tensor is on {x.device}, but Triton {mode} and needs a {wanted} tensor: "
                         f"move it with .to('{wanted}')")


def triton_softmax(x: torch.Tensor) -> torch.Tensor:
    """softmax(x) over the last dimension with one Triton program per row: (..., n) -> (..., n)."""
    check_kernel_device(x)
    if x.shape[-1] > MAX_COLUMNS or x.shape[-1] == 0:
        raise ValueError(f"rows of {x.shape[-1]} columns: this kernel holds a whole row in one block, "
                         f"so it takes 1 to {MAX_COLUMNS} columns; use x.softmax(-1) for longer rows")
    rows = x.reshape(-1, x.shape[-1]).contiguous()
    out = torch.empty_like(rows)
    softmax_kernel[(rows.shape[0],)](rows, out, rows.shape[1], rows.stride(0),
                                     BLOCK=triton.next_power_of_2(rows.shape[1]))
    return out.view(x.shape)
