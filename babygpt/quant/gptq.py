"""GPTQ (Frantar et al. 2022): quantize a weight matrix one column at a time, and let the columns
not yet quantized absorb each column's rounding error.

For a linear layer with inputs X (tokens, in), the error GPTQ minimises is ``||W X^T - Ŵ X^T||²``.
Its Hessian with respect to any row of W is ``H = 2 X^T X / tokens`` (in, in), the same for
every row. Quantizing column ``i`` to ``q_i`` costs ``(w_i - q_i)² / [H^-1]_ii`` and the best
correction of the remaining columns is

    W[:, i:] -= (w_i - q_i) / [H^-1]_ii · [H^-1]_{i, i:}

(Optimal Brain Surgeon's update). GPTQ's three tricks make it fast and stable: every row uses
the same column order, so one Cholesky factor of H^-1 (upper triangular) gives every row's
update; the updates are applied lazily, inside blocks of ``block_size`` columns, and to the
rest of the matrix once per block; and 1 % of H's mean diagonal is added to its diagonal
(damping). ``act_order`` quantizes the columns of largest ``H_ii`` (the most active inputs)
first.
"""

import torch

from .formats import check_bits
from .linear import check_not_quantized, quantizable_linears, replace_linear
from .rtn import QuantizedTensor, check_group_size, group_scales, quantize, round_to_codes


def hessian(inputs: torch.Tensor) -> torch.Tensor:
    """``2 X^T X / tokens`` (in, in) float64 from a layer's inputs X (..., in)."""
    x = inputs.reshape(-1, inputs.shape[-1]).double()
    return 2 * x.T @ x / x.shape[0]


def inverse_hessian_factor(h: torch.Tensor, damp: float) -> torch.Tensor:
    """The upper Cholesky factor of ``(H + damp · mean(diag H) · I)^-1`` (in, in) float64."""
    damped = h + damp * torch.diagonal(h).mean() * torch.eye(len(h), dtype=h.dtype)
    inverse = torch.cholesky_inverse(torch.linalg.cholesky(damped))
    return torch.linalg.cholesky(inverse, upper=True)


def gptq(w: torch.Tensor, h: torch.Tensor, bits: int, group_size: int | None = None,
         symmetric: bool = True, damp: float = 0.01, block_size: int = 128,
         act_order: bool = False) -> QuantizedTensor:
    """GPTQ of ``w`` (out, in) given the Hessian ``h`` (in, in) of its inputs (:func:`hessian`).

    The grid is round-to-nearest's (:mod:`babygpt.quant.rtn`): with ``group_size`` set, each
    group's scale is taken from the group's weights as they stand when GPTQ reaches its first
    column (already corrected for the columns before it).
    """
    check_bits(bits)
    rows, cols = w.shape
    if h.shape != (cols, cols):
        raise ValueError(f"the Hessian has shape {tuple(h.shape)} but the layer has {cols} input "
                         f"features: build it from this layer's inputs, (tokens, {cols})")
    group_size = cols if group_size is None else group_size
    check_group_size(cols, group_size)
    w, h = w.detach().double().clone(), h.double().clone()
    dead = torch.diagonal(h) == 0  # inputs that are always 0: their weights do not matter
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    order = torch.argsort(torch.diagonal(h), descending=True) if act_order else None
    if order is not None:
        w, h = w[:, order], h[order][:, order]
    factor = inverse_hessian_factor(h, damp)

    codes = torch.zeros(rows, cols, dtype=torch.uint8)
    scales = torch.zeros(rows, cols // group_size, dtype=torch.float64)
    zeros = torch.zeros_like(scales)
    for start in range(0, cols, block_size):
        end = min(start + block_size, cols)
        block = w[:, start:end].clone()
        errors = torch.zeros_like(block)
        for i in range(end - start):
            column = start + i
            if column % group_size == 0:
                ahead = block[:, i:i + group_size]  # a group may run on past the block
                ahead = torch.cat([ahead, w[:, end:end + group_size - ahead.shape[1]]], dim=1)
                g = column // group_size
                scales[:, g], zeros[:, g] = group_scales(ahead, bits, symmetric)
            s, z = scales[:, column // group_size], zeros[:, column // group_size]
            q = round_to_codes(block[:, i], s, z, bits)
            codes[:, column] = q.to(torch.uint8)
            error = (block[:, i] - (q - z) * s) / factor[column, column]
            block[:, i:] -= error[:, None] * factor[column, column:end][None, :]
            errors[:, i] = error
        w[:, end:] -= errors @ factor[start:end, end:]
    return QuantizedTensor(codes, scales.float(), zeros.float(), bits, group_size, symmetric, order)


def layer_inputs(model: torch.nn.Module, name: str, ids: torch.Tensor) -> torch.Tensor:
    """The inputs (tokens, in_features) that layer ``name`` sees when ``model`` reads ``ids``."""
    seen = []
    handle = model.get_submodule(name).register_forward_hook(
        lambda module, args, output: seen.append(args[0].detach()))
    try:
        with torch.no_grad():
            model(ids)
    finally:
        handle.remove()
    return seen[0].reshape(-1, seen[0].shape[-1])


def output_error(x: torch.Tensor, w: torch.Tensor, quantized: QuantizedTensor) -> float:
    """Mean squared error of the layer's outputs, ``mean((X W^T - X Ŵ^T)²)``."""
    return ((x @ (w - quantized.dequantize()).T) ** 2).mean().item()


def gptq_linears(model: torch.nn.Module, calibration_ids: torch.Tensor, bits: int,
                 group_size: int | None = None, symmetric: bool = True, act_order: bool = False,
                 damp: float = 0.01, skip=("head", "output")) -> list[dict]:
    """GPTQ every linear layer of ``model`` in place, in forward order, each from the inputs it
    receives from the layers before it, already quantized (calibration_ids: (batch, seq) token ids).

    Returns, per layer, its name and the output error (:func:`output_error`, on its calibration
    inputs) of round-to-nearest and of GPTQ with the same grid.
    """
    check_not_quantized(model)
    report = []
    for name in quantizable_linears(model, skip):
        x = layer_inputs(model, name, calibration_ids)
        w = model.get_submodule(name).weight.detach()
        quantized = gptq(w, hessian(x), bits, group_size, symmetric, damp, act_order=act_order)
        rtn = quantize(w, bits, group_size, symmetric)
        report.append({"layer": name, "rtn": output_error(x, w, rtn),
                       "gptq": output_error(x, w, quantized)})
        replace_linear(model, name, quantized)
    return report
