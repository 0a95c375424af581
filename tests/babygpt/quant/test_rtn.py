"""Round-to-nearest quantization and bit packing, against float64 recomputations."""

import pytest
import torch

from babygpt.quant import QuantizedTensor, pack, quantize, round_to_format, unpack
from babygpt.quant.formats import float_format_facts


def weights(rows=8, cols=64, seed=0):
    return torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("group_size", [None, 16])
@pytest.mark.parametrize("symmetric", [True, False])
def test_round_trip_error_is_at_most_half_a_step(bits, group_size, symmetric):
    w = weights()
    q = quantize(w, bits, group_size, symmetric)
    step = q.scales.repeat_interleave(q.group_size, dim=1)
    # rounding to the nearest level is off by at most half a level, nothing is clipped
    assert ((q.dequantize() - w).abs() <= step / 2 + 1e-6).all()
    assert q.codes.dtype == torch.uint8 and int(q.codes.max()) < 2**bits


def test_symmetric_int8_matches_a_float64_recomputation():
    w = weights(4, 32)
    q = quantize(w, 8, group_size=8)
    groups = w.double().reshape(4, 4, 8)
    scale = groups.abs().amax(-1, keepdim=True) / 127
    expected = (torch.round(groups / scale) * scale).reshape(4, 32)
    torch.testing.assert_close(q.dequantize().double(), expected, rtol=1e-6, atol=1e-7)
    assert (q.zeros == 128).all()


def test_asymmetric_levels_span_the_group_and_keep_zero_exact():
    w = torch.tensor([[0.0, 1.0, 2.0, 3.0]])  # all positive: asymmetric uses every level on them
    q = quantize(w, 2, symmetric=False)
    torch.testing.assert_close(q.dequantize(), w)
    assert quantize(w, 2, symmetric=True).dequantize()[0, 0] == 0.0


def test_a_group_of_zeros_stays_zero():
    w = torch.zeros(2, 8)
    for symmetric in (True, False):
        assert torch.equal(quantize(w, 4, symmetric=symmetric).dequantize(), w)


def test_per_channel_is_one_scale_per_row_and_finer_groups_err_less():
    w = weights(16, 128) * torch.logspace(-2, 0, 128)  # columns of very different sizes
    errors = {g: (quantize(w, 4, g).dequantize() - w).pow(2).mean() for g in (None, 64, 32)}
    assert quantize(w, 4).scales.shape == (16, 1)
    assert errors[32] < errors[64] < errors[None]
    per_tensor = quantize(w.reshape(1, -1), 4).dequantize().reshape(w.shape)
    assert errors[None] < (per_tensor - w).pow(2).mean()


def test_act_order_codes_dequantize_in_the_original_column_order():
    w = weights(3, 8)
    q = quantize(w, 8)
    order = torch.randperm(8, generator=torch.Generator().manual_seed(0))
    shuffled = QuantizedTensor(q.codes[:, order], q.scales, q.zeros, 8, 8, True, order)
    torch.testing.assert_close(shuffled.dequantize(), q.dequantize())


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_packing_is_exact_and_dense(bits):
    codes = torch.randint(0, 2**bits, (1001,), generator=torch.Generator().manual_seed(bits),
                          dtype=torch.uint8)
    packed = pack(codes, bits)
    assert packed.numel() == -(-1001 * bits // 8)
    assert torch.equal(unpack(packed, bits, 1001), codes)


def test_int4_packs_two_codes_per_byte_low_nibble_first():
    codes = torch.tensor([1, 2, 15, 0], dtype=torch.uint8)
    assert pack(codes, 4).tolist() == [1 | 2 << 4, 15]


def test_bad_input_names_the_value_and_the_fix():
    with pytest.raises(ValueError, match=r"group_size=128 does not divide the 192 input features.*64"):
        quantize(weights(2, 192), 4, group_size=128)
    with pytest.raises(ValueError, match=r"bits=5 is not supported: choose one of \(2, 3, 4, 8\)"):
        quantize(weights(), 5)
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 16\)"):
        pack(torch.tensor([16], dtype=torch.uint8), 4)
    with pytest.raises(ValueError, match=r"3 codes of 4 bits take 2 bytes, not 3"):
        unpack(torch.zeros(3, dtype=torch.uint8), 4, 3)


def test_float_formats_trade_range_for_precision():
    big, small = torch.tensor([70000.0]), torch.tensor([1e-8])
    assert torch.isinf(round_to_format(big, torch.float16)).all()  # past fp16's 65504
    assert round_to_format(big, torch.bfloat16).item() == pytest.approx(70000, rel=4e-3)
    assert round_to_format(small, torch.float16).item() == 0.0  # below fp16's smallest subnormal
    assert round_to_format(small, torch.bfloat16).item() == pytest.approx(1e-8, rel=4e-3)
    assert float_format_facts(torch.bfloat16)["epsilon"] == 2**-7
    assert float_format_facts(torch.float16)["epsilon"] == 2**-10
    assert float_format_facts(torch.float16)["max"] == 65504


def test_each_named_float_format_has_the_bits_and_mantissa_its_name_says():
    from babygpt.quant.formats import FLOAT_FORMATS

    mantissa = {"fp32": 23, "fp16": 10, "bf16": 7, "fp8 e4m3": 3, "fp8 e5m2": 2}
    assert set(FLOAT_FORMATS) == set(mantissa)
    for name, dtype in FLOAT_FORMATS.items():
        facts = float_format_facts(dtype)
        assert facts["bits"] == (8 if name.startswith("fp8") else int(name[2:]))
        assert facts["epsilon"] == 2.0 ** -mantissa[name], name
    assert float_format_facts(FLOAT_FORMATS["fp8 e4m3"])["max"] == 448  # e4m3fn: no inf, max 448
