"""FlashAttention as Triton kernels: the forward pass, and a backward pass that recomputes the
attention weights from the saved log-sum-exp.

The algorithm is :mod:`.flash_attention`'s (FlashAttention-2, Dao 2023), with each loop over blocks
of queries turned into a grid of programs: the forward kernel runs one program for each block of
``BLOCK_Q`` queries of each head, which walks over the blocks of keys; the backward pass runs one
program per block of keys for dK and dV and one per block of queries for dQ, so that no two
programs add into the same numbers. The scores never leave the program's registers and on-chip
memory. Sequence lengths need not be multiples of the blocks: loads past the end are masked and
those keys get a score of -inf. Read Triton's fused-attention tutorial and Stanford CS336's
assignment 2 beside it; this is written from the paper's algorithms.

Inputs are laid out as ``F.scaled_dot_product_attention``'s: (batch, n_head, T, d_head), contiguous,
float32, float16 or bfloat16, with d_head in :data:`HEAD_DIMS`. Blocks accumulate in float32.
"""

import math

import torch
import triton
import triton.language as tl

from . import triton_interprets
from .flash_attention import check_attention_inputs
from .triton_softmax import check_kernel_device

HEAD_DIMS = (32, 64, 128)
DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@triton.jit
def load_tile(ptr, base, rows, seq_len, HEAD_DIM: tl.constexpr, DOT_FLOAT32: tl.constexpr):
    """Rows ``rows`` of one head's (T, d_head) matrix, zeros past the end of the sequence."""
    dims = tl.arange(0, HEAD_DIM)
    tile = tl.load(ptr + base + rows[:, None] * HEAD_DIM + dims[None, :], mask=rows[:, None] < seq_len, other=0.0)
    if DOT_FLOAT32:
        tile = tile.to(tl.float32)
    return tile


@triton.jit
def store_tile(ptr, base, rows, seq_len, tile, HEAD_DIM: tl.constexpr):
    dims = tl.arange(0, HEAD_DIM)
    tl.store(ptr + base + rows[:, None] * HEAD_DIM + dims[None, :], tile.to(ptr.dtype.element_ty),
             mask=rows[:, None] < seq_len)


@triton.jit
def forward_kernel(q_ptr, k_ptr, v_ptr, o_ptr, lse_ptr, seq_len, scale, HEAD_DIM: tl.constexpr,
                   BLOCK_Q: tl.constexpr, BLOCK_K: tl.constexpr, CAUSAL: tl.constexpr, DOT_FLOAT32: tl.constexpr):
    q_block, head = tl.program_id(0), tl.program_id(1)
    base = head * seq_len * HEAD_DIM  # this head's (T, d_head) matrix, row-major
    rows = q_block * BLOCK_Q + tl.arange(0, BLOCK_Q)
    q = load_tile(q_ptr, base, rows, seq_len, HEAD_DIM, DOT_FLOAT32)
    m = tl.full([BLOCK_Q], float("-inf"), tl.float32)
    l = tl.zeros([BLOCK_Q], tl.float32)
    acc = tl.zeros([BLOCK_Q, HEAD_DIM], tl.float32)
    k_end = seq_len
    if CAUSAL:
        k_end = tl.minimum((q_block + 1) * BLOCK_Q, seq_len)  # no key after this block's last query
    for k_start in range(0, k_end, BLOCK_K):
        keys = k_start + tl.arange(0, BLOCK_K)
        k = load_tile(k_ptr, base, keys, seq_len, HEAD_DIM, DOT_FLOAT32)
        v = load_tile(v_ptr, base, keys, seq_len, HEAD_DIM, DOT_FLOAT32)
        s = tl.dot(q, tl.trans(k)) * scale
        visible = keys[None, :] < seq_len
        if CAUSAL:
            visible = visible & (keys[None, :] <= rows[:, None])
        s = tl.where(visible, s, float("-inf"))
        m_new = tl.maximum(m, tl.max(s, axis=1))  # finite: every query sees key 0
        p = tl.exp(s - m_new[:, None])
        rescale = tl.exp(m - m_new)
        l = l * rescale + tl.sum(p, axis=1)
        acc = acc * rescale[:, None] + tl.dot(p.to(v.dtype), v)
        m = m_new
    out = acc / l[:, None]
    store_tile(o_ptr, base, rows, seq_len, out, HEAD_DIM)
    tl.store(lse_ptr + head * seq_len + rows, m + tl.log(l), mask=rows < seq_len)


@triton.jit
def backward_dkdv_kernel(q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr, dk_ptr, dv_ptr, seq_len, scale,
                         HEAD_DIM: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_K: tl.constexpr,
                         CAUSAL: tl.constexpr, DOT_FLOAT32: tl.constexpr):
    k_block, head = tl.program_id(0), tl.program_id(1)
    base = head * seq_len * HEAD_DIM
    keys = k_block * BLOCK_K + tl.arange(0, BLOCK_K)
    k = load_tile(k_ptr, base, keys, seq_len, HEAD_DIM, DOT_FLOAT32)
    v = load_tile(v_ptr, base, keys, seq_len, HEAD_DIM, DOT_FLOAT32)
    dk = tl.zeros([BLOCK_K, HEAD_DIM], tl.float32)
    dv = tl.zeros([BLOCK_K, HEAD_DIM], tl.float32)
    q_first = 0
    if CAUSAL:
        q_first = (k_block * BLOCK_K) // BLOCK_Q * BLOCK_Q  # earlier queries see none of these keys
    for q_start in range(q_first, seq_len, BLOCK_Q):
        rows = q_start + tl.arange(0, BLOCK_Q)
        in_rows = rows[:, None] < seq_len
        q = load_tile(q_ptr, base, rows, seq_len, HEAD_DIM, DOT_FLOAT32)
        do = load_tile(do_ptr, base, rows, seq_len, HEAD_DIM, DOT_FLOAT32)
        lse = tl.load(lse_ptr + head * seq_len + rows, mask=rows < seq_len, other=0.0)
        delta = tl.load(delta_ptr + head * seq_len + rows, mask=rows < seq_len, other=0.0)
        s = tl.dot(q, tl.trans(k)) * scale
        visible = in_rows & (keys[None, :] < seq_len)
        if CAUSAL:
            visible = visible & (keys[None, :] <= rows[:, None])
        p = tl.where(visible, tl.exp(s - lse[:, None]), 0.0)  # the weights, recomputed
        dv += tl.dot(tl.trans(p).to(do.dtype), do)
        dp = tl.dot(do, tl.trans(v))
        ds = p * (dp - delta[:, None])
        dk += tl.dot(tl.trans(ds).to(q.dtype), q)
    store_tile(dk_ptr, base, keys, seq_len, dk * scale, HEAD_DIM)
    store_tile(dv_ptr, base, keys, seq_len, dv, HEAD_DIM)


@triton.jit
def backward_dq_kernel(q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr, dq_ptr, seq_len, scale,
                       HEAD_DIM: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_K: tl.constexpr,
                       CAUSAL: tl.constexpr, DOT_FLOAT32: tl.constexpr):
    q_block, head = tl.program_id(0), tl.program_id(1)
    base = head * seq_len * HEAD_DIM
    rows = q_block * BLOCK_Q + tl.arange(0, BLOCK_Q)
    in_rows = rows[:, None] < seq_len
    q = load_tile(q_ptr, base, rows, seq_len, HEAD_DIM, DOT_FLOAT32)
    do = load_tile(do_ptr, base, rows, seq_len, HEAD_DIM, DOT_FLOAT32)
    lse = tl.load(lse_ptr + head * seq_len + rows, mask=rows < seq_len, other=0.0)
    delta = tl.load(delta_ptr + head * seq_len + rows, mask=rows < seq_len, other=0.0)
    dq = tl.zeros([BLOCK_Q, HEAD_DIM], tl.float32)
    k_end = seq_len
    if CAUSAL:
        k_end = tl.minimum((q_block + 1) * BLOCK_Q, seq_len)
    for k_start in range(0, k_end, BLOCK_K):
        keys = k_start + tl.arange(0, BLOCK_K)
        k = load_tile(k_ptr, base, keys, seq_len, HEAD_DIM, DOT_FLOAT32)
        v = load_tile(v_ptr, base, keys, seq_len, HEAD_DIM, DOT_FLOAT32)
        s = tl.dot(q, tl.trans(k)) * scale
        visible = in_rows & (keys[None, :] < seq_len)
        if CAUSAL:
            visible = visible & (keys[None, :] <= rows[:, None])
        p = tl.where(visible, tl.exp(s - lse[:, None]), 0.0)
        ds = p * (tl.dot(do, tl.trans(v)) - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k)
    store_tile(dq_ptr, base, rows, seq_len, dq * scale, HEAD_DIM)


def dot_in_float32(q) -> bool:
    """Whether the kernels multiply their tiles in float32: in Triton's interpreter, for bfloat16
    inputs, whose ``tl.dot`` multiplies the raw bits (numpy has no bfloat16); compiled, the tensor
    cores multiply bfloat16 tiles themselves, accumulating in float32."""
    return triton_interprets() and q.dtype == torch.bfloat16


def check_kernel_inputs(q, k, v) -> None:
    """Raise a ValueError naming the value and the fix for inputs the kernels do not take."""
    check_attention_inputs(q, k, v)
    if q.ndim != 4 or q.shape != k.shape:
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)}: the kernel attends a sequence to itself, "
                         f"so give q, k and v all as (batch, n_head, T, d_head)")
    if q.shape[-1] not in HEAD_DIMS:
        raise ValueError(f"d_head={q.shape[-1]} is not supported: the kernel is built for d_head in {HEAD_DIMS}; "
                         f"pad the heads to the next of those or use F.scaled_dot_product_attention")
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x.dtype not in DTYPES or x.dtype != q.dtype:
            raise ValueError(f"{name} is {x.dtype}: give q, k and v one dtype among {DTYPES}")
        if not x.is_contiguous():
            raise ValueError(f"{name} (strides {x.stride()}) is not contiguous: the kernel reads each head as a "
                             f"row-major (T, d_head) matrix; pass {name}.contiguous()")
        check_kernel_device(x)


def triton_flash_forward(q, k, v, causal: bool, block_q: int, block_k: int):
    """The output (batch, n_head, T, d_head), in q's dtype, and L (batch, n_head, T), float32."""
    check_kernel_inputs(q, k, v)
    batch, n_head, seq, d_head = q.shape
    out = torch.empty_like(q)
    lse = torch.empty((batch, n_head, seq), dtype=torch.float32, device=q.device)
    grid = (triton.cdiv(seq, block_q), batch * n_head)
    forward_kernel[grid](q, k, v, out, lse, seq, 1 / math.sqrt(d_head), HEAD_DIM=d_head, BLOCK_Q=block_q,
                         BLOCK_K=block_k, CAUSAL=causal, DOT_FLOAT32=dot_in_float32(q))
    return out, lse


def triton_flash_backward(q, k, v, out, lse, grad_out, causal: bool, block_q: int, block_k: int):
    """dq, dk, dv (in q's dtype) from the saved output and log-sum-exp."""
    batch, n_head, seq, d_head = q.shape
    grad_out = grad_out.contiguous()
    delta = (grad_out.float() * out.float()).sum(dim=-1)  # D = rowsum(dO ∘ O), (batch, n_head, T)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    settings = dict(HEAD_DIM=d_head, BLOCK_Q=block_q, BLOCK_K=block_k, CAUSAL=causal,
                    DOT_FLOAT32=dot_in_float32(q))
    scale = 1 / math.sqrt(d_head)
    backward_dkdv_kernel[(triton.cdiv(seq, block_k), batch * n_head)](
        q, k, v, grad_out, lse, delta, dk, dv, seq, scale, **settings)
    backward_dq_kernel[(triton.cdiv(seq, block_q), batch * n_head)](
        q, k, v, grad_out, lse, delta, dq, seq, scale, **settings)
    return dq, dk, dv


class TritonFlashAttention(torch.autograd.Function):
    """The Triton kernels for autograd: saves q, k, v, the output and L."""

    @staticmethod
    def forward(ctx, q, k, v, causal, block_q, block_k):
        out, lse = triton_flash_forward(q, k, v, causal, block_q, block_k)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.settings = (causal, block_q, block_k)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse = ctx.saved_tensors
        return (*triton_flash_backward(q, k, v, out, lse, grad_out, *ctx.settings), None, None, None)


def triton_flash_attention(q, k, v, causal: bool = False, block_q: int = 64, block_k: int = 64):
    """softmax(q kᵀ / √d_head) v by the Triton kernels, differentiable.

    q, k, v: (batch, n_head, T, d_head), contiguous, one dtype; blocks are powers of 2 from 16
    (the smallest ``tl.dot`` takes). Returns (batch, n_head, T, d_head) in q's dtype.
    """
    for name, block in (("block_q", block_q), ("block_k", block_k)):
        if block < 16 or block & (block - 1):
            raise ValueError(f"{name}={block}: Triton's blocks are powers of 2 of at least 16; try 64")
    return TritonFlashAttention.apply(q, k, v, causal, block_q, block_k)
