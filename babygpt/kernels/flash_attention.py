"""FlashAttention's tiling in plain PyTorch: attention over blocks of queries and keys, forward and
backward, never holding the ``T × T`` scores.

Follows FlashAttention-2 (Dao 2023, algorithms 1 and 2). The forward pass takes one block of
``block_q`` queries at a time and walks over blocks of ``block_k`` keys, keeping the online
softmax's running maximum ``m`` and sum ``l`` (:mod:`.online_softmax`) and a running weighted sum of
values, rescaled whenever the maximum grows; it saves each query's log-sum-exp ``L = m + log l``.
The backward pass recomputes every block of weights from ``L`` as ``P = exp(S - L)`` instead of
storing them, and uses ``D = rowsum(dO ∘ O)`` for the softmax's gradient. Causal attention skips
the blocks above the diagonal. The same loops are what the Triton and Pallas kernels run, one
block of queries (or keys) per program.

Shapes: q (..., T_q, d_head), k and v (..., T_k, d_head); the mask of ``causal`` is
``babygpt.attention.causal_mask``'s, query i sees keys 0..i. Blocks are computed in float32
whatever the inputs' dtype, and the outputs are cast back to it.
"""

import math

import torch


def check_attention_inputs(q, k, v) -> None:
    """Raise a ValueError naming the shapes when q, k and v cannot be attended."""
    if q.ndim < 2 or q.shape[:-2] != k.shape[:-2] or k.shape != v.shape or q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} do not fit: give q as "
            f"(..., T_q, d_head) and k, v both as (..., T_k, d_head), with the same leading axes"
        )


def _scores(q_block, k_block, scale, q_start, k_start, causal):
    """S = q kᵀ · scale for one pair of blocks, -inf where a query may not see a key (float32)."""
    s = (q_block.float() @ k_block.float().transpose(-2, -1)) * scale
    if causal:
        rows = q_start + torch.arange(q_block.shape[-2], device=s.device)
        cols = k_start + torch.arange(k_block.shape[-2], device=s.device)
        s = s.masked_fill(cols[None, :] > rows[:, None], float("-inf"))
    return s


def flash_attention_forward(q, k, v, causal: bool = False, block_q: int = 64, block_k: int = 64):
    """The output (..., T_q, d_head) and each query's log-sum-exp L (..., T_q), in float32."""
    check_attention_inputs(q, k, v)
    scale = 1 / math.sqrt(q.shape[-1])
    t_q, t_k = q.shape[-2], k.shape[-2]
    out = torch.empty(q.shape, dtype=torch.float32, device=q.device)
    lse = torch.empty(q.shape[:-1], dtype=torch.float32, device=q.device)
    for q_start in range(0, t_q, block_q):
        q_block = q[..., q_start : q_start + block_q, :]
        m = torch.full(q_block.shape[:-1], float("-inf"), device=q.device)
        l = torch.zeros_like(m)
        acc = torch.zeros(q_block.shape, device=q.device)
        k_end = min(t_k, q_start + block_q) if causal else t_k  # causal: no key after the last query
        for k_start in range(0, k_end, block_k):
            s = _scores(q_block, k[..., k_start : k_start + block_k, :], scale, q_start, k_start, causal)
            m_new = torch.maximum(m, s.amax(dim=-1))
            p = torch.exp(s - m_new[..., None])
            rescale = torch.exp(m - m_new)  # exp(-inf) = 0 on the first block
            l = l * rescale + p.sum(dim=-1)
            acc = acc * rescale[..., None] + p @ v[..., k_start : k_start + block_k, :].float()
            m = m_new
        out[..., q_start : q_start + block_q, :] = acc / l[..., None]
        lse[..., q_start : q_start + block_q] = m + torch.log(l)
    return out, lse


def flash_attention_backward(q, k, v, out, lse, grad_out, causal: bool = False, block_q: int = 64,
                             block_k: int = 64):
    """dq, dk, dv (float32, shaped like q, k, v) from the saved output and log-sum-exp."""
    scale = 1 / math.sqrt(q.shape[-1])
    t_q, t_k = q.shape[-2], k.shape[-2]
    d = (grad_out.float() * out.float()).sum(dim=-1)  # D_i = sum_j P_ij dP_ij = dO_i · O_i
    dq = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
    dk = torch.zeros(k.shape, dtype=torch.float32, device=q.device)
    dv = torch.zeros(v.shape, dtype=torch.float32, device=q.device)
    for k_start in range(0, t_k, block_k):
        k_block = k[..., k_start : k_start + block_k, :].float()
        v_block = v[..., k_start : k_start + block_k, :].float()
        q_first = k_start // block_q * block_q if causal else 0  # causal: earlier queries see none
        for q_start in range(q_first, t_q, block_q):
            rows = slice(q_start, q_start + block_q)
            q_block, do_block = q[..., rows, :].float(), grad_out[..., rows, :].float()
            p = torch.exp(_scores(q_block, k_block, scale, q_start, k_start, causal) - lse[..., rows, None])
            dv[..., k_start : k_start + block_k, :] += p.transpose(-2, -1) @ do_block
            dp = do_block @ v_block.transpose(-2, -1)
            ds = p * (dp - d[..., rows, None])  # the softmax's backward, row by row
            dq[..., rows, :] += ds @ k_block * scale
            dk[..., k_start : k_start + block_k, :] += ds.transpose(-2, -1) @ q_block * scale
    return dq, dk, dv


class FlashAttention(torch.autograd.Function):
    """Tiled attention for autograd: saves q, k, v, the output and L, not the weights."""

    @staticmethod
    def forward(ctx, q, k, v, causal, block_q, block_k):
        out, lse = flash_attention_forward(q, k, v, causal, block_q, block_k)
        out = out.to(q.dtype)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.settings = (causal, block_q, block_k)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = flash_attention_backward(q, k, v, out, lse, grad_out, *ctx.settings)
        return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), None, None, None


def flash_attention(q, k, v, causal: bool = False, block_q: int = 64, block_k: int = 64):
    """softmax(q kᵀ / √d_head) v over blocks, differentiable: (..., T_q, d_head), in q's dtype."""
    if block_q < 1 or block_k < 1:
        raise ValueError(f"block_q={block_q} and block_k={block_k} must be at least 1")
    return FlashAttention.apply(q, k, v, causal, block_q, block_k)
