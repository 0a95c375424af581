"""FLOPs per token and MFU arithmetic."""

import pytest

from lmbase.flops import mfu, peak_flops, training_flops_per_token


def test_flops_per_token_is_6n_plus_attention():
    # nanoGPT's GPT-2 124M example: 6N + 12 L d T with N = 124M, L = 12, d = 768, T = 1024
    assert training_flops_per_token(124_000_000, 12, 768, 1024) == 6 * 124e6 + 12 * 12 * 768 * 1024


def test_peak_flops_lookup_and_mfu():
    assert peak_flops("TPU v3") == 61.5e12
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_flops("TPU v5 lite") == 197e12
    assert peak_flops("cpu") is None
    assert mfu(1e5, 1e9, 1e15) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        mfu(1.0, 1.0, 0.0)
