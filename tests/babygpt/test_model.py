"""babygpt.model: the seed's parameter counts, a float64 recomputation, causality, errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from babygpt.model import GPT, NAMED_CONFIGS, GPTConfig, cross_entropy


def test_babygpt_original_has_the_seeds_count_with_its_109_character_vocabulary():
    config = GPTConfig.named("babygpt-original")
    assert (config.vocab_size, config.context, config.n_layer, config.n_head, config.d_model) == (109, 64, 8, 8, 256)
    model = GPT(config)
    assert model.num_parameters() == 6_372_461
    assert model.head.bias is not None and model.head.weight is not model.tok_emb.weight
    assert model.blocks[0].attn.qkv.bias is None and model.blocks[0].mlp.fc.bias is None


def test_nanogpt_baby_has_nanogpts_printed_count():
    # nanoGPT prints parameters without the position embeddings: "number of parameters: 10.65M".
    model = GPT(GPTConfig.named("nanogpt-baby"))
    assert model.num_parameters() - model.pos_emb.weight.numel() == 10_646_784
    assert model.head.weight is model.tok_emb.weight


def reference_logits(model: GPT, ids: torch.Tensor) -> torch.Tensor:
    """The GPT's forward pass recomputed in float64 with plain tensor operations."""
    c = model.config
    p = {n: t.detach().double() for n, t in model.state_dict().items()}

    def layer_norm(x, prefix):
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        out = (x - mean) / torch.sqrt(var + c.ln_eps) * p[prefix + ".weight"]
        return out + p[prefix + ".bias"] if c.ln_bias else out

    def linear(x, prefix):
        out = x @ p[prefix + ".weight"].T
        return out + p[prefix + ".bias"] if prefix + ".bias" in p else out

    batch, seq = ids.shape
    x = p["tok_emb.weight"][ids] + p["pos_emb.weight"][:seq]
    mask = torch.ones(seq, seq, dtype=torch.bool).tril()
    heads, d_head = c.n_head, c.d_model // c.n_head
    for i in range(c.n_layer):
        b = f"blocks.{i}"
        q, k, v = linear(layer_norm(x, b + ".ln1"), b + ".attn.qkv").split(c.d_model, dim=-1)
        q, k, v = (t.view(batch, seq, heads, d_head).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-1, -2) / math.sqrt(d_head)).masked_fill(~mask, -math.inf)
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, seq, c.d_model)
        x = x + linear(y, b + ".attn.proj")
        h = linear(layer_norm(x, b + ".ln2"), b + ".mlp.fc")
        gelu = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
        x = x + linear(gelu, b + ".mlp.proj")
    return linear(layer_norm(x, "ln_f"), "head")


@pytest.mark.parametrize("name", ["tiny", "babygpt-table-15m"])
def test_forward_equals_a_float64_recomputation(name):
    model = GPT(GPTConfig.named(name), seed=1)
    with torch.no_grad():  # non-zero biases and gains, so that every parameter matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    ids = torch.randint(0, model.config.vocab_size, (2, model.config.context), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model(ids).double(), reference_logits(model, ids), atol=2e-5, rtol=1e-4)


def test_changing_a_later_token_never_changes_earlier_logits():
    model = GPT(GPTConfig.named("tiny")).eval()
    ids = torch.randint(0, 65, (1, 20), generator=torch.Generator().manual_seed(0))
    changed = ids.clone()
    changed[0, 12] = (ids[0, 12] + 1) % 65
    a, b = model(ids), model(changed)
    assert torch.equal(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def test_initial_loss_is_near_uniform_and_same_seed_same_weights():
    model = GPT(GPTConfig.named("tiny"), seed=3)
    ids = torch.randint(0, 65, (4, 64), generator=torch.Generator().manual_seed(0))
    targets = torch.randint(0, 65, (4, 64), generator=torch.Generator().manual_seed(1))
    loss = cross_entropy(model(ids), targets)
    assert abs(loss.item() - math.log(65)) < 0.05
    again = GPT(GPTConfig.named("tiny"), seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))
    assert not torch.equal(GPT(GPTConfig.named("tiny"), seed=4).tok_emb.weight, model.tok_emb.weight)


def test_generate_is_deterministic_for_a_generator_and_crops_to_the_context():
    model = GPT(GPTConfig.named("babygpt-table-15m")).eval()
    prompt = torch.zeros(2, 3, dtype=torch.long)
    out = model.generate(prompt, 20, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 23) and torch.equal(out[:, :3], prompt)
    assert torch.equal(out, model.generate(prompt, 20, generator=torch.Generator().manual_seed(0)))
    greedy = model.generate(prompt, 5, temperature=0)
    assert torch.equal(greedy[:, 3], model(prompt)[:, -1].argmax(-1))
    top1 = model.generate(prompt, 5, top_k=1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(top1, greedy)


def test_bad_input_raises_errors_that_name_the_value_and_the_fix():
    model = GPT(GPTConfig.named("tiny"))
    with pytest.raises(ValueError, match="65 tokens but this model's context is 64"):
        model(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(ValueError, match=r"token id 70 is outside the vocabulary \[0, 65\)"):
        model(torch.tensor([[1, 70]]))
    with pytest.raises(ValueError, match="d_model=100 is not divisible by n_head=3"):
        GPTConfig.named("tiny", d_model=100, n_head=3)
    with pytest.raises(KeyError, match="babygpt-original"):
        GPTConfig.named("nope")


def test_every_named_configuration_builds():
    for name in NAMED_CONFIGS:
        config = GPTConfig.named(name)
        assert GPTConfig(**config.to_dict()) == config


def test_generation_settings_that_would_sample_something_else_are_refused():
    model = GPT(GPTConfig.named("tiny")).eval()
    prompt = torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="temperature=-0.5 is negative, which turns the distribution upside down"):
        model.generate(prompt, 5, temperature=-0.5)
    with pytest.raises(ValueError, match="top_k=0 keeps no token: use top_k >= 1"):
        model.generate(prompt, 5, top_k=0)
    with pytest.raises(ValueError, match="max_new_tokens=-1 is negative: ask for 0 or more new tokens"):
        model.generate(prompt, -1)
    assert torch.equal(model.generate(prompt, 0), prompt)  # none asked, none given
    # top_k above the vocabulary keeps every token (documented by min(top_k, vocab_size))
    assert model.generate(prompt, 2, top_k=1000, generator=torch.Generator().manual_seed(0)).shape == (1, 5)


def test_token_ids_without_a_batch_axis_are_refused_with_the_fix():
    model = GPT(GPTConfig.named("tiny")).eval()
    with pytest.raises(ValueError, match=r"token ids must have shape \(batch, seq\), got shape \(3,\): .*ids\[None\]"):
        model(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"got shape \(3,\)"):
        model.generate(torch.zeros(3, dtype=torch.long), 2)
    with pytest.raises(TypeError, match=r"must be a torch.Tensor of shape \(batch, seq\), got a list"):
        model([[1, 2, 3]])


def test_generate_with_top_k_draws_only_among_the_k_likeliest_tokens():
    model = GPT(GPTConfig.named("tiny"), seed=3).eval()
    prompt = torch.randint(0, 65, (256, 8), generator=torch.Generator().manual_seed(0))
    allowed = model(prompt)[:, -1].topk(3).indices
    drawn = model.generate(prompt, 1, top_k=3, generator=torch.Generator().manual_seed(1))[:, -1]
    assert (drawn[:, None] == allowed).any(dim=1).all()
    assert len(set((drawn[:, None] == allowed).float().argmax(1).tolist())) == 3  # each of the three is drawn


def test_initialisation_is_gpt2s_with_the_residual_projections_scaled_down():
    model = GPT(GPTConfig.named("tiny", n_layer=4), seed=0)  # residual projections: 0.02 / sqrt(2 * 4)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            assert torch.equal(p, torch.zeros_like(p)), name
        elif p.ndim == 1:
            assert torch.equal(p, torch.ones_like(p)), name
        else:
            std = 0.02 / math.sqrt(8) if name.endswith("proj.weight") else 0.02
            # 4,096 or more draws a matrix: the sample std is within 5 % of the true one many times over
            assert abs(p.std().item() / std - 1) < 0.05 and abs(p.mean().item()) < std / 10, name


def test_linear_mlp_is_the_seeds_gelu_after_both_layers_one_linear_map():
    config = GPTConfig.named("tiny", bias=False, linear_mlp=True)
    block = GPT(config, seed=0).blocks[0].mlp.eval()
    x = torch.randn(5, config.d_model, generator=torch.Generator().manual_seed(0))
    collapsed = block.proj.weight @ block.fc.weight  # (d, d): the two layers are one matrix
    torch.testing.assert_close(block(x), F.gelu(x @ collapsed.T), rtol=1e-5, atol=1e-6)
    fixed = GPT(GPTConfig.named("tiny", bias=False), seed=0).blocks[0].mlp.eval()
    assert not torch.allclose(fixed(x), block(x))  # the default puts the GELU between the layers
