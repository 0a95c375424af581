"""GPTQ against round-to-nearest on layers whose inputs are correlated, and its bad input."""

import pytest
import torch

from babygpt.model import GPT, GPTConfig
from babygpt.quant import gptq, gptq_linears, hessian, quantize
from babygpt.quant.gptq import output_error
from babygpt.quant.linear import QuantizedLinear


def correlated_layer(seed=0, tokens=1024, cols=64, rows=32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, 8, generator=g) @ torch.randn(8, cols, generator=g)
    x += 0.1 * torch.randn(tokens, cols, generator=g)
    return x, torch.randn(rows, cols, generator=g) * 0.05


@pytest.mark.parametrize("bits,group_size,act_order", [(4, None, False), (3, None, True),
                                                       (4, 16, False), (4, 16, True), (8, None, False)])
def test_gptq_errs_less_than_round_to_nearest_on_correlated_inputs(bits, group_size, act_order):
    x, w = correlated_layer()
    ours = output_error(x, w, gptq(w, hessian(x), bits, group_size, act_order=act_order))
    rtn = output_error(x, w, quantize(w, bits, group_size))
    assert ours < rtn / 4


def test_gptq_codes_lie_on_the_grid_they_claim():
    x, w = correlated_layer()
    q = gptq(w, hessian(x), 4, group_size=16, block_size=24)  # blocks that cut through groups
    assert int(q.codes.max()) < 16 and q.scales.shape == (32, 4)
    assert torch.isfinite(q.dequantize()).all()


def test_with_independent_inputs_and_no_damping_gptq_is_round_to_nearest():
    # H = I (independent inputs): the error of column i says nothing about column j, so GPTQ
    # has nothing to correct and rounds every weight to nearest
    w = correlated_layer()[1]
    q = gptq(w, torch.eye(64, dtype=torch.float64), 4, damp=0.0)
    torch.testing.assert_close(q.dequantize(), quantize(w, 4).dequantize())


def test_the_hessian_is_two_x_transpose_x_over_tokens():
    x = torch.randn(5, 3, 4)
    flat = x.reshape(-1, 4).double()
    torch.testing.assert_close(hessian(x), 2 * flat.T @ flat / 15)


def test_gptq_of_a_model_replaces_every_block_linear_and_reports_each_layer():
    model = GPT(GPTConfig.named("tiny"), seed=0).eval()
    ids = torch.randint(0, 65, (8, 64), generator=torch.Generator().manual_seed(0))
    report = gptq_linears(model, ids, bits=4, group_size=32)
    quantized = [n for n, m in model.named_modules() if isinstance(m, QuantizedLinear)]
    assert [r["layer"] for r in report] == quantized and len(quantized) == 8
    assert all(r["gptq"] < r["rtn"] for r in report)
    with pytest.raises(ValueError, match="already quantized.*fresh copy"):
        gptq_linears(model, ids, bits=4)


def test_bad_input_names_the_value_and_the_fix():
    x, w = correlated_layer()
    with pytest.raises(ValueError, match=r"Hessian has shape \(32, 32\) but the layer has 64 input"):
        gptq(w, hessian(x[:, :32]), 4)
    with pytest.raises(ValueError, match=r"group_size=48 does not divide the 64"):
        gptq(w, hessian(x), 4, group_size=48)
    with pytest.raises(ValueError, match=r"bits=1 is not supported"):
        gptq(w, hessian(x), 1)


def test_the_factor_is_the_upper_cholesky_of_the_damped_inverse_hessian():
    from babygpt.quant.gptq import inverse_hessian_factor

    x, _ = correlated_layer()
    h = hessian(x)
    factor = inverse_hessian_factor(h, damp=0.01)
    damped = h + 0.01 * torch.diagonal(h).mean() * torch.eye(64, dtype=torch.float64)
    assert torch.equal(factor, torch.triu(factor))
    torch.testing.assert_close(factor.T @ factor, torch.linalg.inv(damped), rtol=1e-6, atol=1e-8)
