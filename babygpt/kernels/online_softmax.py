"""The online softmax (Milakov and Gimelshein 2018): a row's maximum and normaliser in one pass.

The safe softmax ``exp(x - max x) / sum exp(x - max x)`` reads a row three times: for its maximum,
for the sum, and to write the output. The online softmax reads it in blocks and keeps a running
maximum ``m`` and a running sum ``l`` of ``exp(x - m)``; when a block raises the maximum from ``m``
to ``m'``, the sum so far is rescaled by ``exp(m - m')``. One pass gives both, a second writes the
output. FlashAttention applies the same rescaling to its running weighted sum of values.
"""

import torch


def online_normalizer(x: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The maximum ``m`` and the sum ``l = sum exp(x - m)`` of each row, reading ``block`` columns
    at a time. x: (..., n); returns two (...,) tensors, in x's dtype. A row of only -inf has
    ``m = -inf`` and ``l = 0``."""
    if block < 1:
        raise ValueError(f"block={block} must be at least 1 column")
    m = torch.full(x.shape[:-1], float("-inf"), dtype=x.dtype, device=x.device)
    l = torch.zeros_like(m)
    for start in range(0, x.shape[-1], block):
        chunk = x[..., start : start + block]
        m_new = torch.maximum(m, chunk.amax(dim=-1))
        # Where the maximum is still -inf every exp below would be exp(-inf - -inf) = nan; shifting
        # by 0 there gives exp(-inf) = 0, the right contribution of a block of -inf.
        shift = torch.where(torch.isinf(m_new) & (m_new < 0), torch.zeros_like(m_new), m_new)
        l = l * torch.exp(m - shift) + torch.exp(chunk - shift[..., None]).sum(dim=-1)
        m = m_new
    return m, l


def online_softmax(x: torch.Tensor, block: int) -> torch.Tensor:
    """softmax(x) over the last dimension, its normaliser found in one pass of ``block`` columns.
    x: (..., n) -> (..., n). Equals ``x.softmax(-1)``, a row of only -inf included (nan, as there)."""
    m, l = online_normalizer(x, block)
    return torch.exp(x - m[..., None]) / l[..., None]
