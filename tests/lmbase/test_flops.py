"""FLOPs per token and MFU arithmetic."""

import pytest

from lmbase.flops import mfu, peak_flops, peak_memory_bandwidth, training_flops_per_token
from lmbase.kv_cache_arithmetic import decode_bytes_read


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


def test_peak_memory_bandwidth_lookup_picks_the_longest_matching_name():
    assert peak_memory_bandwidth("NVIDIA H200") == 4.8e12
    assert peak_memory_bandwidth("NVIDIA H100 80GB HBM3") == 3.35e12
    assert peak_memory_bandwidth("NVIDIA H100 PCIe") == 2.0e12
    assert peak_memory_bandwidth("NVIDIA A100-SXM4-80GB") == 2.039e12
    assert peak_memory_bandwidth("NVIDIA A100-SXM4-40GB") == 1.555e12
    assert peak_memory_bandwidth("cpu") is None


def test_a_decoding_step_reads_every_weight_once_and_each_rows_cache():
    # GPT-2 small in bf16 at batch 8, 100 cached tokens a row: 12 layers of 768-wide keys and values
    weights = 124_439_808 * 2
    assert decode_bytes_read(weights, 12, 768, 8, 100) == weights + 8 * 100 * 2 * 12 * 768 * 2
    assert decode_bytes_read(weights, 12, 768, 1, 0) == weights
    with pytest.raises(ValueError, match="batch=0"):
        decode_bytes_read(weights, 12, 768, 0, 10)


def matmul_training_flops_per_token(vocab, n_layer, d, context):
    """Every matrix product of a GPT's forward pass, 2 FLOPs per multiply-add, times 3 for training."""
    per_layer = 2 * d * 3 * d + 2 * d * d + 2 * 2 * d * 4 * d + 2 * 2 * context * d  # qkv, proj, MLP, QKᵀ and AV
    return 3 * (n_layer * per_layer + 2 * d * vocab)


def test_6n_plus_attention_equals_counting_every_matrix_product():
    # nanoGPT's Shakespeare model: N = 10,646,784 without the position table ("10.65M").
    vocab, n_layer, d, context = 65, 6, 384, 256
    layer_norm_params = (2 * n_layer + 1) * d  # bias-free LayerNorm gains
    n_params = n_layer * 12 * d * d + vocab * d + layer_norm_params
    assert n_params == 10_646_784
    counted = matmul_training_flops_per_token(vocab, n_layer, d, context)
    # The only difference: 6 FLOPs per LayerNorm gain, which are not matrix products.
    assert training_flops_per_token(n_params, n_layer, d, context) - counted == 6 * layer_norm_params
