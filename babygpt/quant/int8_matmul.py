"""Int8 × int8 matrix products with int32 accumulation, in groups: llama2.c's Q8_0.

Both the weight (out, in) and the activations (tokens, in) are quantized symmetrically to int8
with one float32 scale per group of ``group_size`` input features (llama2.c's ``runq.c``
quantizes each activation vector on the fly, then multiplies). Within a group the products are
summed exactly in int32; each group's sum is then scaled by its two scales and the groups added
in float32:

    y[m, n] = Σ_j  x_scale[m, j] · w_scale[n, j] · Σ_{k in group j} x_code[m, k] · w_code[n, k].

With one group per row (``group_size=None``) it is a single int8 matmul: the per-channel
weight, per-token activation scheme of PyTorch's dynamic quantization.
"""

import torch
from torch import nn

from .rtn import quantize

INT8_ZERO = 128  # rtn's symmetric 8-bit codes lie in [1, 255] with zero at 128


def quantize_int8(x: torch.Tensor, group_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(codes, scales)``: x (rows, cols) as int8 codes in [-127, 127] (rows, cols) and float32
    scales (rows, cols // group_size), symmetric round-to-nearest (:func:`rtn.quantize`)."""
    q = quantize(x, 8, group_size, symmetric=True)
    return (q.codes.to(torch.int16) - INT8_ZERO).to(torch.int8), q.scales


def group_columns(codes: torch.Tensor, groups: int) -> torch.Tensor:
    """Weight codes (out, in) int8 -> (groups, out, in // groups), each group contiguous: the
    layout in which ``torch._int_mm`` reads a group's transpose fastest."""
    out, cols = codes.shape
    return codes.reshape(out, groups, cols // groups).permute(1, 0, 2).contiguous()


def int8_matmul(x_codes: torch.Tensor, x_scales: torch.Tensor, w_groups: torch.Tensor,
                w_scales: torch.Tensor) -> torch.Tensor:
    """x codes (tokens, in) int8 and scales (tokens, groups); weight codes in
    :func:`group_columns` layout (groups, out, group_size) int8 and scales (out, groups)
    -> (tokens, out) float32."""
    groups, out, size = w_groups.shape
    y = torch.zeros(x_codes.shape[0], out)
    for j in range(groups):
        exact = torch._int_mm(x_codes[:, j * size:(j + 1) * size], w_groups[j].t())  # int32
        y += exact * (x_scales[:, j:j + 1] * w_scales[:, j])
    return y


def int8_matmul_reference(x_codes, x_scales, w_codes, w_scales) -> torch.Tensor:
    """The same sum in float64 from codes (tokens, in) and (out, in): the check for
    :func:`int8_matmul`."""
    groups = w_scales.shape[1]
    x = x_codes.double().reshape(x_codes.shape[0], groups, -1)
    w = w_codes.double().reshape(w_codes.shape[0], groups, -1)
    per_group = torch.einsum("mjk,njk->mnj", x, w)
    return (per_group * x_scales.double()[:, None, :] * w_scales.double()[None, :, :]).sum(-1)


class Int8Linear(nn.Module):
    """(..., in_features) -> (..., out_features) with int8 weights and activations quantized on
    the fly (W8A8), multiplied by :func:`int8_matmul`."""

    def __init__(self, linear: nn.Linear, group_size: int | None = None):
        super().__init__()
        self.out_features, self.in_features = linear.weight.shape
        self.group_size = self.in_features if group_size is None else group_size
        codes, scales = quantize_int8(linear.weight, self.group_size)
        self.register_buffer("weight_groups", group_columns(codes, self.in_features // self.group_size))
        self.register_buffer("weight_scales", scales)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(),
                                                                  requires_grad=False)

    def forward(self, x):
        rows = x.reshape(-1, self.in_features)
        codes, scales = quantize_int8(rows, self.group_size)
        y = int8_matmul(codes, scales, self.weight_groups, self.weight_scales)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"int8 weights and activations, groups of {self.group_size}")
