"""babygpt.attention against PyTorch's own attention ops, forward and gradients, in float32."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from babygpt.attention import (
    MultiHeadAttention,
    SpatialSelfAttention,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
    to_torch_multihead_attention,
)

# float32 forward and gradients agree to this (both sides sum the same products in another order).
ATOL, RTOL = 2e-6, 1e-5


def close(a, b):
    torch.testing.assert_close(a, b, atol=ATOL, rtol=RTOL)


def leaf(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).requires_grad_()


@pytest.mark.parametrize("causal", [False, True])
def test_dot_product_attention_equals_pytorch_forward_and_gradients(causal):
    q, k, v = leaf(2, 3, 5, 8, seed=0), leaf(2, 3, 5, 8, seed=1), leaf(2, 3, 5, 6, seed=2)
    ours = scaled_dot_product_attention(q, k, v, causal=causal)
    grads = torch.autograd.grad(ours.square().sum(), (q, k, v))
    theirs = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    close(ours, theirs)
    for g, h in zip(grads, torch.autograd.grad(theirs.square().sum(), (q, k, v))):
        close(g, h)


def test_padding_mask_equals_pytorch_and_ignores_padded_keys():
    q, k, v = leaf(2, 2, 4, 8, seed=3), leaf(2, 2, 6, 8, seed=4), leaf(2, 2, 6, 8, seed=5)
    mask = padding_mask([6, 3], 6)
    ours, weights = scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    close(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert torch.all(weights[1, :, :, 3:] == 0) and torch.all(weights[0, :, :, 3:] > 0)
    # Changing a padded key or value does not change the second sequence's output.
    k2, v2 = k.detach().clone(), v.detach().clone()
    k2[1, :, 3:], v2[1, :, 3:] = 100.0, -100.0
    close(scaled_dot_product_attention(q, k2, v2, mask=mask)[1], ours[1])


def test_causal_attention_never_sees_the_future():
    x = torch.randn(1, 2, 7, 4)
    out = scaled_dot_product_attention(x, x, x, causal=True)
    changed = x.clone()
    changed[:, :, 4:] = torch.randn(1, 2, 3, 4)
    again = scaled_dot_product_attention(changed, changed, changed, causal=True)
    close(again[:, :, :4], out[:, :, :4])
    assert not torch.allclose(again[:, :, 4:], out[:, :, 4:])
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))


@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_self_attention_equals_torch_multihead_attention(causal):
    torch.manual_seed(0)
    ours = MultiHeadAttention(32, 4)
    theirs = to_torch_multihead_attention(ours)
    x = leaf(3, 6, 32, seed=6)
    out, weights = ours(x, causal=causal, return_weights=True)
    # nn.MultiheadAttention's boolean attn_mask is True where attention is *forbidden*.
    ref, ref_weights = theirs(x, x, x, attn_mask=~causal_mask(6) if causal else None, average_attn_weights=False)
    close(out, ref)
    close(weights, ref_weights)
    g_ours = torch.autograd.grad(out.square().sum(), (x, ours.q_proj.weight, ours.v_proj.weight))
    g_theirs = torch.autograd.grad(ref.square().sum(), (x, theirs.in_proj_weight))
    close(g_ours[0], g_theirs[0])
    close(g_ours[1], g_theirs[1][:32])
    close(g_ours[2], g_theirs[1][64:])


def test_cross_attention_with_two_sequences_of_different_lengths_and_widths():
    torch.manual_seed(1)
    ours = MultiHeadAttention(d_model=32, n_heads=4, kv_dim=24)
    theirs = to_torch_multihead_attention(ours)
    x, context = leaf(2, 5, 32, seed=7), leaf(2, 9, 24, seed=8)
    lengths = [9, 4]
    out, weights = ours(x, context, mask=padding_mask(lengths, 9), return_weights=True)
    assert out.shape == (2, 5, 32) and weights.shape == (2, 4, 5, 9)
    ref, _ = theirs(x, context, context, key_padding_mask=~padding_mask(lengths, 9)[:, 0, 0, :])
    close(out, ref)
    for ours_grad, ref_grad in zip(torch.autograd.grad(out.sum(), (x, context)), torch.autograd.grad(ref.sum(), (x, context))):
        close(ours_grad, ref_grad)


def test_spatial_attention_equals_groupnorm_then_single_head_torch_attention():
    torch.manual_seed(2)
    block = SpatialSelfAttention(64, groups=32)
    x = leaf(2, 64, 5, 3, seed=9)
    out, weights = block(x, return_weights=True)
    assert weights.shape == (2, 15, 15)
    # Reference: the 1×1 convolutions are per-pixel linear maps, so one-head nn.MultiheadAttention
    # over the pixels (tokens), with the conv weights copied, computes the same block.
    mha = nn.MultiheadAttention(64, 1, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([c.weight[:, :, 0, 0] for c in (block.q, block.k, block.v)]))
        mha.in_proj_bias.copy_(torch.cat([c.bias for c in (block.q, block.k, block.v)]))
        mha.out_proj.weight.copy_(block.proj_out.weight[:, :, 0, 0])
        mha.out_proj.bias.copy_(block.proj_out.bias)
    tokens = F.group_norm(x, 32, block.norm.weight, block.norm.bias, eps=1e-6).flatten(2).transpose(1, 2)
    attended, _ = mha(tokens, tokens, tokens)
    ref = x + attended.transpose(1, 2).reshape(x.shape)
    close(out, ref)
    close(torch.autograd.grad(out.square().sum(), x)[0], torch.autograd.grad(ref.square().sum(), x)[0])


def test_bad_shapes_raise_errors_that_name_the_fix():
    with pytest.raises(ValueError, match="d_model=30 is not divisible by n_heads=4"):
        MultiHeadAttention(30, 4)
    with pytest.raises(ValueError, match="channels=48 is not divisible by groups=32"):
        SpatialSelfAttention(48)
    with pytest.raises(ValueError, match="do not fit"):
        scaled_dot_product_attention(torch.zeros(1, 3, 4), torch.zeros(1, 3, 5), torch.zeros(1, 3, 5))
    with pytest.raises(ValueError, match="kv_dim=24"):
        MultiHeadAttention(32, 4, kv_dim=24)(torch.zeros(1, 2, 32), torch.zeros(1, 2, 32))
    with pytest.raises(ValueError, match="lengths"):
        padding_mask([0, 3], 3)
