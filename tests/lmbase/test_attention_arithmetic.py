"""lmbase.attention_arithmetic: attention's FLOPs and bytes, counted by hand for small shapes."""

import pytest

from lmbase.attention_arithmetic import attention_flops, fused_attention_bytes, unfused_attention_bytes


def test_flops_count_the_two_products_half_of_them_causal_and_the_backward_at_two_and_a_half():
    # S = Q Kᵀ: 3·4 heads of T² = 100 dot products of length 8, 2 FLOPs a multiply-add; then P V
    forward = 12 * (100 * 8 * 2) * 2
    assert attention_flops(3, 4, 10, 8) == forward
    assert attention_flops(3, 4, 10, 8, causal=True) == forward / 2
    assert attention_flops(3, 4, 10, 8, backward=True) == forward * 2.5


def test_bytes_of_the_unfused_and_the_fused_forward():
    # per head: Q, K, V read and O written (4 · 10 · 8 numbers), and, unfused, 4 passes over 10 × 10
    assert unfused_attention_bytes(3, 4, 10, 8, bytes_per_value=2) == 12 * (320 + 400) * 2
    assert fused_attention_bytes(3, 4, 10, 8, bytes_per_value=2) == 12 * (320 * 2 + 10 * 4)
    with pytest.raises(ValueError, match="seq=0 must be at least 1"):
        attention_flops(1, 1, 0, 8)
