"""Attention, from the scaled dot product up: masks, multi-head, cross and spatial attention.

Follows "Attention Is All You Need" (Vaswani et al. 2017) for the dot product and multi-head
attention, and the latent-diffusion attention block (Rombach et al. 2022, ``AttnBlock``) for
spatial attention, which is what the seed BabyGPT's "spatial attention" computes. Every piece is
written out with plain tensor operations so that it can be read; PyTorch's own ops
(``F.scaled_dot_product_attention``, ``nn.MultiheadAttention``) are the references the tests and
chapter 3 compare against, and the fast path the GPT of chapter 6 uses.

Masks are boolean and follow PyTorch's convention: ``True`` where a query may attend to a key.
"""

import math

import torch
from torch import nn


def causal_mask(seq_q: int, seq_k: int | None = None, device=None) -> torch.Tensor:
    """``mask[i, j] = j <= i``: query i sees keys 0..i and nothing later. Shape (seq_q, seq_k)."""
    seq_k = seq_q if seq_k is None else seq_k
    return torch.ones(seq_q, seq_k, dtype=torch.bool, device=device).tril()


def padding_mask(lengths, seq_k: int) -> torch.Tensor:
    """``mask[b, 0, 0, j] = j < lengths[b]``: padded keys are never attended. Shape (batch, 1, 1, seq_k).

    The two singleton axes broadcast over heads and queries.
    """
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1 or (lengths < 1).any() or (lengths > seq_k).any():
        raise ValueError(
            f"lengths must be a 1-D list of true lengths between 1 and seq_k={seq_k}, got {lengths.tolist()}"
        )
    return (torch.arange(seq_k, device=lengths.device) < lengths[:, None])[:, None, None, :]


def scaled_dot_product_attention(q, k, v, mask=None, causal: bool = False, return_weights: bool = False):
    """softmax(q kᵀ / √d_head + masks) v, for T_q queries and T_k keys.

    q: (..., T_q, d_head), k: (..., T_k, d_head), v: (..., T_k, d_out), where d_out, the values'
    width, is d_head in a head; ``mask`` is boolean and broadcasts to (..., T_q, T_k); ``causal``
    adds :func:`causal_mask`. Returns the output (..., T_q, d_out), and the attention weights
    (..., T_q, T_k) if ``return_weights``.
    """
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} do not fit: q and k need the "
            f"same last size d_head, k and v the same number of keys"
        )
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2], q.device), float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    out = weights @ v
    return (out, weights) if return_weights else out


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(batch, T, d) -> (batch, n_head, T, d_head), d_head = d / n_head; head j owns columns
    j·d_head .. (j+1)·d_head - 1."""
    batch, seq, d = x.shape
    return x.view(batch, seq, n_heads, d // n_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(batch, n_head, T, d_head) -> (batch, T, n_head · d_head), the inverse of split_heads."""
    batch, n_heads, seq, d_head = x.shape
    return x.transpose(1, 2).reshape(batch, seq, n_heads * d_head)


class MultiHeadAttention(nn.Module):
    """Multi-head attention: self-attention by default, cross-attention when given a context.

    Queries come from ``x`` (batch, T_q, d_model); keys and values from ``context``
    (batch, T_k, kv_dim), or from ``x`` itself when no context is given. Each of the
    n_head heads (the ``n_heads`` argument) attends in its own d_head = d_model / n_head
    columns; their outputs are concatenated and mixed by the output projection.
    """

    def __init__(self, d_model: int, n_heads: int, kv_dim: int | None = None, bias: bool = True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(
                f"d_model={d_model} is not divisible by n_heads={n_heads}: each head needs an equal "
                f"share of the channels; pick n_heads among the divisors of {d_model}"
            )
        kv_dim = d_model if kv_dim is None else kv_dim
        self.d_model, self.n_heads, self.kv_dim = d_model, n_heads, kv_dim
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(kv_dim, d_model, bias=bias)
        self.v_proj = nn.Linear(kv_dim, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, context=None, mask=None, causal: bool = False, return_weights: bool = False):
        """Output (batch, T_q, d_model), and the weights (batch, n_head, T_q, T_k) if asked."""
        context = x if context is None else context
        if x.shape[-1] != self.d_model or context.shape[-1] != self.kv_dim:
            raise ValueError(
                f"expected queries of width d_model={self.d_model} and a context of width "
                f"kv_dim={self.kv_dim}, got {x.shape[-1]} and {context.shape[-1]}"
            )
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.k_proj(context), self.n_heads)
        v = split_heads(self.v_proj(context), self.n_heads)
        out, weights = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal, return_weights=True)
        out = self.out_proj(merge_heads(out))
        return (out, weights) if return_weights else out


def to_torch_multihead_attention(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    """The ``nn.MultiheadAttention`` (batch_first) computing exactly what ``ours`` computes.

    PyTorch keeps one stacked ``in_proj_weight`` when keys and values have the query width,
    and separate ``q/k/v_proj_weight`` otherwise; both are filled from our four projections.
    """
    bias = ours.q_proj.bias is not None
    kdim = None if ours.kv_dim == ours.d_model else ours.kv_dim
    theirs = nn.MultiheadAttention(ours.d_model, ours.n_heads, bias=bias, batch_first=True, kdim=kdim, vdim=kdim)
    with torch.no_grad():
        if theirs._qkv_same_embed_dim:
            theirs.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        else:
            theirs.q_proj_weight.copy_(ours.q_proj.weight)
            theirs.k_proj_weight.copy_(ours.k_proj.weight)
            theirs.v_proj_weight.copy_(ours.v_proj.weight)
        theirs.out_proj.weight.copy_(ours.out_proj.weight)
        if bias:
            theirs.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
            theirs.out_proj.bias.copy_(ours.out_proj.bias)
    return theirs


class SpatialSelfAttention(nn.Module):
    """Self-attention over the h·w positions of a feature map: the latent-diffusion ``AttnBlock``.

    GroupNorm, then 1×1 convolutions give a query, key and value of ``channels`` numbers per
    pixel; one head attends across all pixels (scale channels^-1/2); a 1×1 convolution maps the
    result back and it is added to the input. Input and output: (batch, channels, height, width).
    """

    def __init__(self, channels: int, groups: int = 32):
        super().__init__()
        if channels % groups:
            raise ValueError(
                f"channels={channels} is not divisible by groups={groups}: GroupNorm splits the channels "
                f"into equal groups; use a multiple of {groups} channels or another number of groups"
            )
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.q = nn.Conv2d(channels, channels, kernel_size=1)
        self.k = nn.Conv2d(channels, channels, kernel_size=1)
        self.v = nn.Conv2d(channels, channels, kernel_size=1)
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        """x + attention(x): (batch, channels, height, width); weights (batch, h·w, h·w) if asked."""
        batch, channels, height, width = x.shape
        h = self.norm(x)
        # Each pixel becomes one token of `channels` numbers: (batch, h·w, channels).
        q, k, v = (conv(h).flatten(2).transpose(1, 2) for conv in (self.q, self.k, self.v))
        out, weights = scaled_dot_product_attention(q, k, v, return_weights=True)
        out = out.transpose(1, 2).reshape(batch, channels, height, width)
        out = x + self.proj_out(out)
        return (out, weights) if return_weights else out
