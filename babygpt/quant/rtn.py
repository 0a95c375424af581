"""Round-to-nearest (RTN) quantization of a weight matrix to ``bits``-bit integers.

Each row of a (rows, cols) matrix is cut into groups of ``group_size`` consecutive columns, and
every group gets its own scale ``s`` (and zero point ``z``): a weight ``w`` is stored as the code

    q = clamp(round(w / s) + z, 0, 2**bits - 1)      and read back as      ŵ = (q - z) · s.

* **symmetric**: ``z = 2**(bits-1)`` for every group and ``s = max|w| / (2**(bits-1) - 1)``, so 0.0
  is exact and the levels are symmetric around it (int8: -127 ... 127, llama2.c's Q8_0);
* **asymmetric**: the levels span ``[min(w, 0), max(w, 0)]``, ``s = (max - min) / (2**bits - 1)``
  and ``z = round(-min / s)``: one level more for a group that is not centred on 0.

``group_size=None`` gives one group per row (per-channel: one scale per output feature); a
whole-tensor scale is ``quantize(w.reshape(1, -1), bits)``. A group of zeros gets scale 1.
"""

from dataclasses import dataclass

import torch

from .formats import check_bits


@dataclass
class QuantizedTensor:
    """A (rows, cols) matrix as codes with one scale and zero point per group of columns.

    ``codes`` (rows, cols) uint8 in [0, 2**bits); ``scales`` and ``zeros`` (rows, cols //
    group_size) float32. ``order``, when GPTQ reordered the columns (act-order), is the column
    permutation the codes are stored in: column ``j`` of the codes is column ``order[j]`` of the
    matrix.
    """

    codes: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor
    bits: int
    group_size: int
    symmetric: bool
    order: torch.Tensor | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.codes.shape)

    def dequantize(self) -> torch.Tensor:
        """The matrix the codes stand for, (rows, cols) float32, in its original column order."""
        scales = self.scales.repeat_interleave(self.group_size, dim=1)
        zeros = self.zeros.repeat_interleave(self.group_size, dim=1)
        matrix = (self.codes.float() - zeros) * scales
        if self.order is None:
            return matrix
        unpermuted = torch.empty_like(matrix)
        unpermuted[:, self.order] = matrix
        return unpermuted


def check_group_size(cols: int, group_size: int) -> None:
    """Raise ValueError unless ``group_size`` divides the ``cols`` input features."""
    if group_size < 1 or cols % group_size:
        divisors = [g for g in (16, 32, 64, 96, 128, 256) if cols % g == 0]
        raise ValueError(
            f"group_size={group_size} does not divide the {cols} input features: choose a divisor "
            f"of {cols} (e.g. {divisors or [cols]}), or group_size=None for one scale per row"
        )


def group_scales(groups: torch.Tensor, bits: int, symmetric: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scales, zeros)`` for groups (..., group_size): each (...,) float32."""
    if symmetric:
        half = 2 ** (bits - 1)
        scales = groups.abs().amax(dim=-1) / (half - 1)
        zeros = torch.full_like(scales, float(half))
    else:
        low = groups.amin(dim=-1).clamp(max=0)
        high = groups.amax(dim=-1).clamp(min=0)
        scales = (high - low) / (2**bits - 1)
        zeros = torch.round(-low / torch.where(scales > 0, scales, 1.0))
    return torch.where(scales > 0, scales, 1.0), zeros


def round_to_codes(x: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor, bits: int) -> torch.Tensor:
    """Codes of ``x`` for the given scales and zeros (all broadcast together), as float32."""
    return torch.clamp(torch.round(x / scales) + zeros, 0, 2**bits - 1)


def quantize(w: torch.Tensor, bits: int, group_size: int | None = None,
             symmetric: bool = True) -> QuantizedTensor:
    """Round-to-nearest quantization of ``w`` (rows, cols) with a scale per group of columns."""
    check_bits(bits)
    if w.ndim != 2:
        raise ValueError(f"quantize takes a (rows, cols) matrix, not shape {tuple(w.shape)}")
    rows, cols = w.shape
    group_size = cols if group_size is None else group_size
    check_group_size(cols, group_size)
    groups = w.detach().float().reshape(rows, cols // group_size, group_size)
    scales, zeros = group_scales(groups, bits, symmetric)
    codes = round_to_codes(groups, scales[..., None], zeros[..., None], bits)
    return QuantizedTensor(codes.reshape(rows, cols).to(torch.uint8), scales, zeros, bits,
                           group_size, symmetric)
