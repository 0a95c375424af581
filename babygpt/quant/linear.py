"""``QuantizedLinear``: a linear layer whose weight is stored as packed integer codes and
dequantized on the fly, and the function that puts it in place of a model's ``nn.Linear`` layers.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .int8_matmul import Int8Linear
from .packing import pack, unpack
from .rtn import QuantizedTensor, quantize


class QuantizedLinear(nn.Module):
    """(..., in_features) -> (..., out_features), the weight held as ``bits``-bit packed codes
    with a float32 scale and zero point per group (buffers, so they are saved and loaded)."""

    def __init__(self, weight: QuantizedTensor, bias: torch.Tensor | None = None):
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.bits, self.group_size, self.symmetric = weight.bits, weight.group_size, weight.symmetric
        self.register_buffer("packed", pack(weight.codes, weight.bits))
        self.register_buffer("scales", weight.scales.float().contiguous())
        # a symmetric format's zero point is the same for every group: nothing to store
        self.register_buffer("zeros", None if weight.symmetric else weight.zeros.to(torch.uint8))
        self.register_buffer("order", None if weight.order is None else weight.order.to(torch.int32))
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    def quantized_weight(self) -> QuantizedTensor:
        """The stored weight as a :class:`QuantizedTensor` (codes unpacked)."""
        rows, cols = self.out_features, self.in_features
        codes = unpack(self.packed, self.bits, rows * cols).reshape(rows, cols)
        zeros = (torch.full_like(self.scales, 2.0 ** (self.bits - 1)) if self.zeros is None
                 else self.zeros.float())
        order = None if self.order is None else self.order.long()
        return QuantizedTensor(codes, self.scales, zeros, self.bits, self.group_size, self.symmetric, order)

    def forward(self, x):
        return F.linear(x, self.quantized_weight().dequantize().to(x.dtype), self.bias)

    def extra_repr(self) -> str:
        groups = "per channel" if self.group_size == self.in_features else f"groups of {self.group_size}"
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"int{self.bits} {'symmetric' if self.symmetric else 'asymmetric'}, {groups}")


def quantizable_linears(model: nn.Module, skip=("head", "output")) -> list[str]:
    """Names of ``model``'s ``nn.Linear`` layers in forward order, without those named in
    ``skip`` (the output head, which a tied model shares with its token embedding)."""
    return [name for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and name.rpartition(".")[2] not in skip]


def replace_linear(model: nn.Module, name: str, weight: QuantizedTensor) -> None:
    """Put a :class:`QuantizedLinear` holding ``weight`` in place of the ``nn.Linear`` ``name``."""
    linear = model.get_submodule(name)
    if tuple(linear.weight.shape) != weight.shape:
        raise ValueError(f"{name} has a weight of shape {tuple(linear.weight.shape)}, the quantized "
                         f"one {weight.shape}")
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent), child, QuantizedLinear(weight, linear.bias))


def check_not_quantized(model: nn.Module) -> None:
    """Raise ValueError if ``model`` already holds quantized layers (quantizing twice compounds
    the rounding and loses the float weights the scales must be computed from)."""
    done = [name for name, m in model.named_modules() if isinstance(m, (QuantizedLinear, Int8Linear))]
    if done:
        raise ValueError(f"this model is already quantized ({len(done)} layers, e.g. {done[0]}): "
                         f"quantize a fresh copy of the float model instead")


@torch.no_grad()
def quantize_linears(model: nn.Module, bits: int, group_size: int | None = None,
                     symmetric: bool = True, activations: bool = False,
                     skip=("head", "output")) -> list[str]:
    """Round-to-nearest quantize every linear layer of ``model`` in place (see
    :func:`quantizable_linears`) to weight-only :class:`QuantizedLinear` layers, or with
    ``activations=True`` (8 bits, symmetric) to :class:`Int8Linear` layers that quantize their
    inputs too. Returns the names of the layers replaced."""
    if activations and (bits != 8 or not symmetric):
        raise ValueError(f"activations=True multiplies int8 by int8: it needs bits=8 and "
                         f"symmetric=True, not bits={bits}, symmetric={symmetric}")
    check_not_quantized(model)
    names = quantizable_linears(model, skip)
    for name in names:
        linear = model.get_submodule(name)
        if activations:
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, Int8Linear(linear, group_size))
        else:
            replace_linear(model, name, quantize(linear.weight, bits, group_size, symmetric))
    return names
