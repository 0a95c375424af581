"""Chapter 14's exercise checks: each passes a right answer and refuses the wrong ones."""

import pytest
import torch

import babygpt.kernels  # noqa: F401, I001  (sets TRITON_INTERPRET=1 without a GPU: before triton)
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

from babygpt.exercises import check_merged_normalizers, check_triton_rmsnorm  # noqa: E402


def merge(m1, l1, m2, l2):
    m = torch.maximum(m1, m2)
    safe = torch.where(torch.isinf(m) & (m < 0), torch.zeros_like(m), m)
    return m, l1 * torch.exp(m1 - safe) + l2 * torch.exp(m2 - safe)


def test_merge_check_passes_the_right_answer_and_refuses_wrong_ones():
    check_merged_normalizers(merge)
    with pytest.raises(AssertionError, match="nan"):
        check_merged_normalizers(lambda m1, l1, m2, l2: (torch.maximum(m1, m2), l1 * torch.exp(
            m1 - torch.maximum(m1, m2)) + l2 * torch.exp(m2 - torch.maximum(m1, m2))))
    with pytest.raises(AssertionError, match="rescale"):
        check_merged_normalizers(lambda m1, l1, m2, l2: merge(m1, l1, m2, l2)[:1] + (l1 + l2,))


@triton.jit
def rmsnorm_kernel(x_ptr, w_ptr, y_ptr, n_cols, eps, BLOCK: tl.constexpr, DIVIDE_BY_BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * n_cols + cols, mask=cols < n_cols, other=0.0)
    w = tl.load(w_ptr + cols, mask=cols < n_cols, other=0.0)
    mean_square = tl.sum(x * x, axis=0) / n_cols
    if DIVIDE_BY_BLOCK:
        mean_square = tl.sum(x * x, axis=0) / BLOCK
    y = x / tl.sqrt(mean_square + eps) * w
    tl.store(y_ptr + row * n_cols + cols, y, mask=cols < n_cols)


def rmsnorm(x, weight, eps, divide_by_block=False):
    y = torch.empty_like(x)
    rmsnorm_kernel[(x.shape[0],)](x, weight, y, x.shape[1], eps, BLOCK=triton.next_power_of_2(x.shape[1]),
                                  DIVIDE_BY_BLOCK=divide_by_block)
    return y


def test_rmsnorm_check_passes_the_kernel_and_refuses_one_that_divides_by_the_block():
    check_triton_rmsnorm(rmsnorm)
    with pytest.raises(AssertionError, match="not by the block's size"):
        check_triton_rmsnorm(lambda x, w, eps: rmsnorm(x, w, eps, divide_by_block=True))
