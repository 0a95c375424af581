"""The int8 group matmul (llama2.c's Q8_0) against its float64 reference, and Int8Linear."""

import pytest
import torch

from babygpt.quant import Int8Linear, int8_matmul, int8_matmul_reference, quantize_int8
from babygpt.quant.int8_matmul import group_columns


@pytest.mark.parametrize("tokens,group_size", [(1, 64), (5, 32), (3, None)])
def test_int8_group_matmul_equals_its_float64_reference(tokens, group_size):
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(tokens, 128, generator=g), torch.randn(48, 128, generator=g)
    xq, xs = quantize_int8(x, group_size)
    wq, ws = quantize_int8(w, group_size)
    y = int8_matmul(xq, xs, group_columns(wq, ws.shape[1]), ws)
    torch.testing.assert_close(y.double(), int8_matmul_reference(xq, xs, wq, ws), rtol=1e-6, atol=1e-5)
    # and the whole product is close to the float one: each factor is off by under 1 %
    torch.testing.assert_close(y, x @ w.T, rtol=0, atol=0.05 * (x @ w.T).abs().max().item())


def test_int8_codes_are_llama2c_q8_0():
    w = torch.randn(4, 64, generator=torch.Generator().manual_seed(1))
    codes, scales = quantize_int8(w, 32)
    groups = w.reshape(-1, 32)  # llama2.c's quantize_q80: scale = max|w| / 127, round(w / scale)
    scale = groups.abs().amax(1) / 127.0
    assert torch.equal(codes.reshape(-1, 32), torch.round(groups / scale[:, None]).to(torch.int8))
    torch.testing.assert_close(scales.reshape(-1), scale)


def test_int8_linear_follows_the_float_layer():
    linear = torch.nn.Linear(64, 16)
    x = torch.randn(2, 3, 64, generator=torch.Generator().manual_seed(2))
    y = Int8Linear(linear, group_size=32)(x)
    assert y.shape == (2, 3, 16)
    torch.testing.assert_close(y, linear(x), rtol=0, atol=0.03)
