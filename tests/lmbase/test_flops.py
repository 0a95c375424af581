"""FLOPs per token and MFU arithmetic."""

import pytest

from lmbase.flops import (
    PEAK_FLOPS, device_peak_flops, gpt_forward_flops, mfu, peak_flops, peak_memory_bandwidth,
    training_flops_per_token,
)
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


def test_the_forward_count_by_terms_is_a_third_of_6n_plus_attention():
    # nanoGPT's baby model, term by term: 3 x the forward matrices = 6 N + 12 L d T - 6 x the LayerNorm gains
    vocab, n_layer, d, context = 65, 6, 384, 256
    terms = gpt_forward_flops(vocab, n_layer, d, context)
    assert terms["attention"] == 4 * n_layer * context * d
    assert terms["head"] == 2 * d * vocab  # the tied embedding counted once, as the head
    n_params = 10_646_784
    layer_norm_params = (2 * n_layer + 1) * d
    assert training_flops_per_token(n_params, n_layer, d, context) - 3 * sum(terms.values()) == 6 * layer_norm_params


def test_grouped_query_attention_and_swiglu_change_the_projection_and_mlp_terms():
    # LLaMA 2 70B's shape: 8 key/value heads of 128, SwiGLU of width 28,672 (three matrices)
    terms = gpt_forward_flops(32000, 80, 8192, 4096, d_ff=28672, kv_dim=1024, mlp_matrices=3)
    assert terms["qkv"] == 2 * 80 * 8192 * (8192 + 2 * 1024)
    assert terms["mlp"] == 2 * 80 * 3 * 8192 * 28672
    with pytest.raises(ValueError, match="kv_dim=0"):
        gpt_forward_flops(65, 2, 64, 64, kv_dim=0)


def test_mfu_of_the_seed_babygpt_llama_trainer_worked_by_hand():
    # 3,222,381 parameters, 4 layers, d 256, context 64, batch 64: 6 N + 12 L d T = 20,120,718 FLOPs a token;
    # 64 x 64 tokens in 19.52 s against a peak of 8e12 FLOP/s is 0.0528 %
    per_token = training_flops_per_token(3_222_381, 4, 256, 64)
    assert per_token == 20_120_718
    assert mfu(64 * 64 / 19.52, per_token, 8e12) == pytest.approx(64 * 64 * 20_120_718 / 19.52 / 8e12)
    assert 100 * mfu(64 * 64 / 19.52, per_token, 8e12) == pytest.approx(0.0528, abs=1e-4)
    for bad in (0.0, -5.0):
        with pytest.raises(ValueError, match="tokens_per_second"):
            mfu(bad, per_token, 8e12)


def test_the_peak_to_divide_by_comes_from_the_data_sheet_or_is_given():
    assert peak_flops("Tesla T4", "fp32") == 8.1e12 and peak_flops("Tesla T4") == 65e12
    assert peak_flops("TPU v3", "fp32") is None  # no fp32 matrix units on a TPU
    assert device_peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert device_peak_flops("cpu", given=1.5e11) == 1.5e11
    with pytest.raises(ValueError, match=r"no bf16 data-sheet peak for device 'cpu': pass the peak yourself"):
        device_peak_flops("cpu")
    with pytest.raises(ValueError, match="PEAK_FLOPS_FP32"):
        device_peak_flops("a new GPU", "fp32")
    with pytest.raises(ValueError, match="precision='fp8'"):
        peak_flops("H100", "fp8")
    with pytest.raises(ValueError, match="must be positive"):
        device_peak_flops("cpu", given=0.0)


def test_every_device_with_a_peak_has_a_bandwidth_for_its_roofline():
    for kind in PEAK_FLOPS:
        assert peak_memory_bandwidth(kind) is not None, kind
    assert peak_memory_bandwidth("TPU v5 lite") == 819e9


def test_generation_flops_sum_every_position_with_causal_attention_and_the_head_where_a_token_is_written():
    from lmbase.flops import generation_flops

    vocab, layers, d, prompt, new = 18, 3, 64, 8, 5
    per_position = gpt_forward_flops(vocab, layers, d, 1)
    dense = per_position["qkv"] + per_position["attention_out"] + per_position["mlp"]
    by_hand = 0.0
    for t in range(prompt + new - 1):  # the last written token is never read
        by_hand += dense + 2 * 2 * layers * d * (t + 1)
        if t >= prompt - 1:
            by_hand += per_position["head"]
    assert generation_flops(vocab, layers, d, prompt, new) == pytest.approx(by_hand, rel=1e-12)
    # one token written from a prompt: the prompt's forward pass, with the head run once
    whole = gpt_forward_flops(vocab, layers, d, prompt)
    causal_prompt = prompt * dense + 2 * 2 * layers * d * prompt * (prompt + 1) / 2 + whole["head"]
    assert generation_flops(vocab, layers, d, prompt, 1) == pytest.approx(causal_prompt, rel=1e-12)
    with pytest.raises(ValueError, match="new_tokens=0 must be at least 1"):
        generation_flops(vocab, layers, d, prompt, 0)

