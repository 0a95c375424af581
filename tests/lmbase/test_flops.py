"""lmbase.flops: 6N + 12LdT against FLOPs counted matrix by matrix."""

import pytest

from lmbase.flops import gpt_forward_flops_per_token, gpt_training_flops_per_token, model_flops_utilization


def matmul_training_flops_per_token(vocab, n_layer, d, context):
    """Every matrix product of a GPT's forward pass, 2 FLOPs per multiply-add, times 3 for training."""
    per_layer = 2 * d * 3 * d + 2 * d * d + 2 * 2 * d * 4 * d + 2 * 2 * context * d  # qkv, proj, MLP, QKᵀ and AV
    return 3 * (n_layer * per_layer + 2 * d * vocab)


def test_palm_formula_equals_counting_every_matrix_product():
    vocab, n_layer, d, context = 65, 6, 384, 256
    layer_norm_params = (2 * n_layer + 1) * d  # nanoGPT's bias-free LayerNorm gains
    n_params = n_layer * 12 * d * d + vocab * d + layer_norm_params  # 10,646,784: nanoGPT's "10.65M"
    assert n_params == 10_646_784
    counted = matmul_training_flops_per_token(vocab, n_layer, d, context)
    # The only difference: 6 FLOPs per LayerNorm gain, which are not matrix products.
    assert gpt_training_flops_per_token(n_params, n_layer, d, context) - counted == 6 * layer_norm_params
    assert gpt_forward_flops_per_token(n_params, n_layer, d, context) * 3 == pytest.approx(
        gpt_training_flops_per_token(n_params, n_layer, d, context))


def test_mfu_is_achieved_over_peak():
    assert model_flops_utilization(1e9, 1e3, 4e12) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="peak_flops=0"):
        model_flops_utilization(1e9, 1e3, 0)
    with pytest.raises(ValueError, match="context=0"):
        gpt_training_flops_per_token(10, 1, 1, 0)
