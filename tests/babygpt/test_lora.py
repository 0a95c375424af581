"""babygpt.lora: exact start from the base model, gradients only in the adapters, merge/unmerge,
adapter files, and equality with Hugging Face peft's LoRA on the same layers and weights."""

import pytest
import torch
from torch import nn

from babygpt.llama import Llama, LlamaConfig
from babygpt.lora import (LoRALinear, apply_lora, count_trainable, load_adapter, lora_layers, merge_lora,
                          save_adapter, unmerge_lora, unwrap_lora)
from lmbase.checkpoint import CheckpointError

TARGETS = ["wq", "wv", "w2"]


def tiny_llama(seed=0, **overrides):
    return Llama(LlamaConfig.named("tiny", **overrides), seed=seed).eval()


def randomise_adapters(model, seed=1):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=generator) * 0.1)


def ids(batch=2, seq=24):
    return torch.randint(0, 65, (batch, seq), generator=torch.Generator().manual_seed(3))


def test_at_initialisation_the_wrapped_model_equals_the_base_model_exactly():
    base = tiny_llama()
    model = tiny_llama()
    names = apply_lora(model, TARGETS, rank=4, alpha=8)
    assert len(names) == 3 * 2 and all(isinstance(model.get_submodule(n), LoRALinear) for n in names)
    with torch.no_grad():
        assert torch.equal(model(ids()), base(ids()))


def test_only_adapter_parameters_receive_gradients():
    model = tiny_llama()
    apply_lora(model, TARGETS, rank=4)
    model(ids()).sum().backward()
    for name, p in model.named_parameters():
        if "lora_" in name:
            assert p.requires_grad
        else:
            assert not p.requires_grad and p.grad is None, name
    # B starts at zero, so A's first gradient is zero and B's is not.
    assert all(l.lora_B.grad.abs().sum() > 0 for l in lora_layers(model).values())
    config = model.config
    per_layer = 4 * (64 + 64) + 4 * (64 + 32) + 4 * (config.hidden_dim + 64)
    assert count_trainable(model) == config.n_layer * per_layer


def test_training_moves_the_output_and_never_the_base_weights():
    model = tiny_llama()
    frozen = {n: p.clone() for n, p in model.named_parameters()}
    apply_lora(model, TARGETS, rank=2)
    before = model(ids()).detach()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(ids()).flatten(0, 1), ids().flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert (model(ids()).detach() - before).abs().max() > 1e-3
    for name, p in model.named_parameters():
        original = name.replace(".base.", ".")
        if original in frozen:
            assert torch.equal(p, frozen[original]), name


def test_merged_and_unmerged_outputs_are_equal():
    model = tiny_llama()
    apply_lora(model, TARGETS, rank=4, alpha=16)
    randomise_adapters(model)
    weights = {n: p.clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        unmerged = model(ids())
        merge_lora(model)
        merged = model(ids())
        unmerge_lora(model)
        again = model(ids())
    assert (unmerged - tiny_llama()(ids())).abs().max() > 1e-3  # the adapters do something
    torch.testing.assert_close(merged, unmerged, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(again, unmerged, atol=1e-6, rtol=1e-6)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p, weights[n], atol=1e-6, rtol=0)


def test_unwrap_gives_a_plain_model_with_the_merged_weights():
    model = tiny_llama()
    apply_lora(model, TARGETS, rank=4)
    randomise_adapters(model)
    with torch.no_grad():
        expected = model(ids())
    unwrap_lora(model)
    assert not lora_layers(model)
    assert set(n for n, _ in model.named_parameters()) == set(n for n, _ in tiny_llama().named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(model(ids()), expected, atol=1e-5, rtol=1e-5)


def test_adapter_save_and_load(tmp_path):
    model = tiny_llama()
    apply_lora(model, TARGETS, rank=4, alpha=8)
    randomise_adapters(model)
    save_adapter(tmp_path / "adapter", model)
    fresh = tiny_llama()
    assert load_adapter(tmp_path / "adapter", fresh) == list(lora_layers(model))
    with torch.no_grad():
        assert torch.equal(fresh(ids()), model(ids()))
    assert count_trainable(fresh) == count_trainable(model)


def test_an_adapter_for_another_model_is_refused(tmp_path):
    model = tiny_llama()
    apply_lora(model, TARGETS, rank=4)
    save_adapter(tmp_path / "adapter", model)
    with pytest.raises(CheckpointError, match="n_layer"):
        load_adapter(tmp_path / "adapter", tiny_llama(n_layer=3))
    with pytest.raises(CheckpointError, match="no adapter_config.json"):
        load_adapter(tmp_path / "nothing", tiny_llama())


def test_targets_that_match_nothing_or_not_a_linear_raise():
    with pytest.raises(ValueError, match="no module .* matches"):
        apply_lora(tiny_llama(), ["query"])
    with pytest.raises(ValueError, match="RMSNorm: LoRA wraps nn.Linear and QuantizedLinear only"):
        apply_lora(tiny_llama(), ["attention_norm"])
    model = tiny_llama()
    apply_lora(model, ["wq"])
    with pytest.raises(ValueError, match="already has a LoRA adapter"):
        apply_lora(model, ["wq"])


def copy_adapters_into_peft(ours, peft_model):
    for name, layer in lora_layers(ours).items():
        target = peft_model.base_model.model.get_submodule(name)
        with torch.no_grad():
            target.lora_A["default"].weight.copy_(layer.lora_A)
            target.lora_B["default"].weight.copy_(layer.lora_B)


@pytest.mark.parametrize("targets, rank, alpha", [(TARGETS, 4, 8), (r"layers\.1\.attention\.w[qkvo]", 2, 5)])
def test_equals_peft_lora_on_the_same_layers_and_weights(targets, rank, alpha):
    import peft
    ours = tiny_llama(seed=4)
    apply_lora(ours, targets, rank=rank, alpha=alpha)
    randomise_adapters(ours)
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets)
    reference = peft.get_peft_model(tiny_llama(seed=4), config)
    wrapped_by_peft = {n.removeprefix("base_model.model.") for n, m in reference.named_modules()
                       if hasattr(m, "lora_A")}
    assert wrapped_by_peft == set(lora_layers(ours))
    assert count_trainable(ours) == sum(p.numel() for p in reference.parameters() if p.requires_grad)
    copy_adapters_into_peft(ours, reference)
    with torch.no_grad():
        expected = reference(ids())
        assert (expected - tiny_llama(seed=4)(ids())).abs().max() > 1e-3
        torch.testing.assert_close(ours(ids()), expected, atol=1e-6, rtol=1e-6)
        merged = reference.merge_and_unload()
        unwrap_lora(ours)
        for (n, p), (m, q) in zip(ours.named_parameters(), merged.named_parameters()):
            assert n == m
            torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-6)


def test_equals_peft_on_a_small_custom_module():
    import peft

    class TwoLayer(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.up, self.down = nn.Linear(10, 20), nn.Linear(20, 5)

        def forward(self, x):
            return self.down(torch.relu(self.up(x)))

    ours = TwoLayer()
    apply_lora(ours, ["up", "down"], rank=3, alpha=6)
    randomise_adapters(ours)
    reference = peft.get_peft_model(TwoLayer(), peft.LoraConfig(r=3, lora_alpha=6, target_modules=["up", "down"]))
    copy_adapters_into_peft(ours, reference)
    x = torch.randn(7, 10)
    torch.testing.assert_close(ours(x), reference(x), atol=1e-6, rtol=1e-6)
    assert count_trainable(ours) == 3 * (10 + 20) + 3 * (20 + 5)


def test_dropout_acts_on_the_adapter_input_only():
    base = nn.Linear(16, 8)
    layer = LoRALinear(base, rank=2, alpha=4, dropout=0.5, generator=torch.Generator().manual_seed(0))
    x = torch.randn(64, 16)
    layer.train()
    assert torch.equal(layer(x), base(x))  # B = 0: dropout on the adapter's input cannot reach the output
    with torch.no_grad():
        layer.lora_B.normal_()
    torch.manual_seed(0)
    noisy = layer(x)
    torch.manual_seed(1)
    assert not torch.equal(noisy, layer(x))
    layer.eval()
    expected = base(x) + 2.0 * (x @ layer.lora_A.T @ layer.lora_B.T)
    torch.testing.assert_close(layer(x), expected, atol=1e-6, rtol=1e-6)


def test_equals_peft_on_babygpt_gpt_with_a_tied_head():
    import peft

    from babygpt.model import GPT, GPTConfig

    config = GPTConfig(vocab_size=65, context=32, n_layer=2, n_head=4, d_model=32)
    targets = ["attn.qkv", "attn.proj", "mlp.fc", "mlp.proj"]
    ours = GPT(config, seed=5).eval()
    apply_lora(ours, targets, rank=3, alpha=6)
    randomise_adapters(ours)
    reference = peft.get_peft_model(GPT(config, seed=5), peft.LoraConfig(r=3, lora_alpha=6, target_modules=targets))
    copy_adapters_into_peft(ours, reference)
    reference.eval()
    x = torch.randint(0, 65, (2, 32))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), atol=1e-6, rtol=1e-6)
    assert ours.head.weight is ours.tok_emb.weight and not ours.head.weight.requires_grad
    assert count_trainable(ours) == 2 * 3 * (32 * 4 + 32 * 2 + 32 * 5 + 32 * 5)


@pytest.mark.parametrize("alpha", [0, -8.0])
def test_an_alpha_that_is_not_positive_is_refused(alpha):
    model = tiny_llama()
    with pytest.raises(ValueError, match=f"alpha={float(alpha)} must be positive: the update is scaled by alpha / "):
        apply_lora(model, TARGETS, rank=4, alpha=alpha)
    assert not lora_layers(model)  # refused before any layer was wrapped
    with pytest.raises(ValueError, match=f"alpha={alpha} must be positive"):
        LoRALinear(nn.Linear(4, 4), rank=2, alpha=alpha)
