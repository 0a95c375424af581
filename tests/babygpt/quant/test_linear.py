"""QuantizedLinear in a model: what it stores, what it computes, LoRA on top (QLoRA)."""

import copy

import pytest
import torch

from babygpt.lora import apply_lora, count_trainable
from babygpt.model import GPT, GPTConfig
from babygpt.quant import QuantizedLinear, quantize, quantize_linears
from babygpt.quant.linear import quantizable_linears


def tiny_model():
    return GPT(GPTConfig.named("tiny"), seed=0).eval()


def stored_bytes(module):
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def test_quantized_linear_computes_with_the_dequantized_weight():
    linear = torch.nn.Linear(64, 32)
    q = quantize(linear.weight, 4, group_size=16, symmetric=False)
    layer = QuantizedLinear(q, linear.bias)
    x = torch.randn(3, 64)
    torch.testing.assert_close(layer(x), x @ q.dequantize().T + linear.bias)


def test_int4_layers_store_half_a_byte_per_weight_plus_their_scales():
    linear = torch.nn.Linear(256, 256, bias=False)
    layer = QuantizedLinear(quantize(linear.weight, 4, group_size=64))
    assert layer.packed.numel() == 256 * 256 // 2
    assert layer.scales.numel() == 256 * 4 and layer.zeros is None  # symmetric: no zero points
    # 4 bits per weight + one 32-bit scale per 64 weights = 4.5 bits, against 32
    assert stored_bytes(linear) / stored_bytes(layer) == pytest.approx(32 / 4.5)


def test_quantize_linears_replaces_every_block_linear_but_not_the_tied_head():
    model = tiny_model()
    names = quantize_linears(model, bits=8)
    assert names == quantizable_linears(tiny_model()) and len(names) == 8
    assert all(isinstance(model.get_submodule(n), QuantizedLinear) for n in names)
    assert isinstance(model.head, torch.nn.Linear) and model.head.weight is model.tok_emb.weight
    ids = torch.randint(0, 65, (2, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(ids), tiny_model()(ids), rtol=0, atol=0.02)
    with pytest.raises(ValueError, match="already quantized .*fresh copy"):
        quantize_linears(model, bits=4)
    with pytest.raises(ValueError, match="needs bits=8 and symmetric=True, not bits=4"):
        quantize_linears(tiny_model(), bits=4, activations=True)


def test_lora_trains_float_adapters_on_a_frozen_int4_base():
    model = tiny_model()
    quantize_linears(model, bits=4, group_size=32)
    frozen = copy.deepcopy(model.state_dict())
    wrapped = apply_lora(model, ["qkv", "proj"], rank=2)
    layers = [model.get_submodule(n).base for n in wrapped]
    assert all(isinstance(layer, QuantizedLinear) for layer in layers)
    assert count_trainable(model) == sum(2 * (q.in_features + q.out_features) for q in layers)
    ids = torch.randint(0, 65, (4, 32), generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = model.state_dict()
    for name, value in frozen.items():  # the int4 codes and scales never move
        wrapped = name.replace(".qkv.", ".qkv.base.").replace(".proj.", ".proj.base.")
        assert torch.equal(after.get(name, after.get(wrapped)), value), name
    layer = model.get_submodule("blocks.0.attn.qkv")
    assert layer.lora_B.abs().sum() > 0
    with pytest.raises(ValueError, match="quantized base cannot absorb"):
        layer.merge()
