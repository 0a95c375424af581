"""Roofline arithmetic: intensities worked by hand, the ridge, and the bound."""

import numpy as np
import pytest

from lmbase.roofline import (
    attainable_flops, attention_intensity, matmul_intensity, ridge_intensity, tokens_per_step,
)


def test_a_square_matmul_has_intensity_n_over_3b():
    # 2 n^3 FLOPs over 3 n^2 numbers of b bytes
    assert matmul_intensity(4096, 4096, 4096, 2) == pytest.approx(4096 / 3)
    # decoding one token through a d x 4d weight: about one FLOP per byte in bf16, whatever d
    assert matmul_intensity(1, 768, 3072, 2) == pytest.approx(2 * 768 * 3072 / (2 * (768 + 768 * 3072 + 3072)))
    assert matmul_intensity(1, 768, 3072, 2) < 1.0


def test_attention_intensity_for_prefill_and_decode():
    # prefill of T queries against T keys: 4 T^2 d / (b d 4 T) = T / b
    assert attention_intensity(1024, 1024, 64, 2) == pytest.approx(1024 / 2)
    # decode: one query against T keys, below 1 FLOP per byte
    assert attention_intensity(1, 1024, 64, 2) == pytest.approx(4 * 1024 / (2 * 2 * 1025))
    with pytest.raises(ValueError, match="kv_len=0"):
        attention_intensity(1, 0, 64)


def test_tokens_per_step_and_the_roofline():
    assert tokens_per_step("training", 8, 256) == 2048 == tokens_per_step("prefill", 8, 256)
    assert tokens_per_step("decode", 8, 256) == 8
    with pytest.raises(ValueError, match="phase='inference'"):
        tokens_per_step("inference", 8, 256)
    peak, bandwidth = 989e12, 3.35e12
    assert ridge_intensity(peak, bandwidth) == pytest.approx(295.2, abs=0.1)
    bound = attainable_flops(np.array([1.0, 295.2238806, 1e4]), peak, bandwidth)
    np.testing.assert_allclose(bound, [3.35e12, peak, peak], rtol=1e-6)
    with pytest.raises(ValueError, match="bandwidth=0"):
        ridge_intensity(peak, 0)
