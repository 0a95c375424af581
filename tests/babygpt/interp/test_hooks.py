"""The hooks: identity hooks change nothing, an overwrite changes exactly what depends on it,
and every activation equals TransformerLens's for the same weights."""

import pytest
import torch

from babygpt.interp.hooks import hook_names, hooked, queries_keys_values, run_with_cache, run_with_hooks
from babygpt.interp.reference import transformer_bridge
from babygpt.llama import Llama, LlamaConfig
from babygpt.model import GPT, GPTConfig

MODELS = {
    "gpt": lambda: GPT(GPTConfig.named("tiny"), seed=1).eval(),
    "llama": lambda: Llama(LlamaConfig.named("tiny"), seed=1).eval(),
}
IDS = torch.randint(0, 65, (2, 12), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("kind", MODELS)
def test_identity_hooks_change_nothing_bit_for_bit(kind):
    model = MODELS[kind]()
    reference = model(IDS)
    for hook in (lambda x: x, lambda x: None):
        out = run_with_hooks(model, IDS, {name: hook for name in hook_names(model)})
        assert torch.equal(out, reference)
    assert torch.equal(model(IDS), reference)  # the hooks are gone afterwards


@pytest.mark.parametrize("kind", MODELS)
def test_hooks_are_removed_even_when_the_forward_fails(kind):
    model = MODELS[kind]()

    def fail(x):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_with_hooks(model, IDS, {"blocks.0.attn_out": fail})
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("kind", MODELS)
def test_overwriting_a_position_changes_only_what_comes_after(kind):
    model = MODELS[kind]()
    reference = model(IDS)

    def bump(x):
        x = x.clone()
        x[:, 5] += torch.randn(x.shape[-1], generator=torch.Generator().manual_seed(3))
        return x

    out = run_with_hooks(model, IDS, {"blocks.1.resid_pre": bump})
    assert torch.equal(out[:, :5], reference[:, :5])  # causal: earlier positions untouched
    assert (out[:, 5:] - reference[:, 5:]).abs().amax(-1).min() > 1e-5  # later ones all move


@pytest.mark.parametrize("kind", MODELS)
def test_zeroing_a_head_changes_the_output_by_that_heads_contribution(kind):
    model = MODELS[kind]()
    attn = model.blocks[0].attn if kind == "gpt" else model.layers[0].attention
    proj = attn.proj if kind == "gpt" else attn.wo
    _, cache = run_with_cache(model, IDS, ["blocks.0.attn.z", "blocks.0.attn_out"])

    def zero_head_2(z):
        z = z.clone()
        z[:, :, 2] = 0
        return z

    seen = {}
    with hooked(model, {"blocks.0.attn.z": zero_head_2,
                        "blocks.0.attn_out": lambda x: seen.setdefault("out", x)}):
        model(IDS)
    d_head = cache["blocks.0.attn.z"].shape[-1]
    head_2 = cache["blocks.0.attn.z"][:, :, 2] @ proj.weight[:, 2 * d_head:3 * d_head].T
    torch.testing.assert_close(cache["blocks.0.attn_out"] - seen["out"], head_2, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", MODELS)
def test_a_new_pattern_is_what_the_heads_use(kind):
    model = MODELS[kind]()
    uniform = torch.ones(12, 12).tril()
    uniform = uniform / uniform.sum(-1, keepdim=True)
    patched = run_with_hooks(model, IDS, {"blocks.0.attn.pattern": lambda p: uniform.expand_as(p)})
    # a uniform causal pattern: each head's output is the running mean of its values
    seen = {}
    with hooked(model, {"blocks.0.attn.pattern": lambda p: uniform.expand_as(p),
                        "blocks.0.attn.z": lambda z: seen.setdefault("z", z)}):
        model(IDS)
    q_k_v = {}
    attn = model.blocks[0].attn if kind == "gpt" else model.layers[0].attention
    with hooked(model, {"blocks.0.resid_pre": lambda x: q_k_v.setdefault("x", x)}):
        model(IDS)
    norm = model.blocks[0].ln1 if kind == "gpt" else model.layers[0].attention_norm
    _, _, v = queries_keys_values(model, attn, norm(q_k_v["x"]))
    expected = (v.cumsum(2) / torch.arange(1, 13)[:, None]).transpose(1, 2)
    torch.testing.assert_close(seen["z"], expected, atol=1e-5, rtol=0)
    assert not torch.allclose(patched, model(IDS))


@pytest.mark.parametrize("kind", MODELS)
def test_activations_equal_transformer_lens(kind):
    model = MODELS[kind]()
    bridge = transformer_bridge(model)
    theirs_logits, theirs = bridge.run_with_cache(IDS)
    logits, ours = run_with_cache(model, IDS)
    torch.testing.assert_close(logits, theirs_logits, atol=1e-5, rtol=0)
    names = {"resid_pre": "hook_resid_pre", "resid_post": "hook_resid_post", "attn.pattern": "attn.hook_pattern",
             "attn.z": "attn.hook_z", "attn_out": "hook_attn_out", "mlp_out": "hook_mlp_out"}
    for i in range(model.config.n_layer):
        for ours_name, their_name in names.items():
            torch.testing.assert_close(ours[f"blocks.{i}.{ours_name}"], theirs[f"blocks.{i}.{their_name}"],
                                       atol=1e-5, rtol=0, msg=f"blocks.{i}.{ours_name}")


def test_an_unknown_name_lists_the_valid_ones():
    model = MODELS["gpt"]()
    with pytest.raises(KeyError, match=r"unknown hook name 'blocks.7.attn.pattern'.*blocks.1.attn.pattern"):
        run_with_hooks(model, IDS, {"blocks.7.attn.pattern": lambda x: x})
    with pytest.raises(KeyError, match="pos_embed"):  # a LLaMA has no position table
        run_with_hooks(MODELS["llama"](), IDS, {"pos_embed": lambda x: x})


def test_a_model_in_training_mode_is_refused():
    model = MODELS["gpt"]().train()
    with pytest.raises(RuntimeError, match=r"model.eval\(\)"):
        run_with_hooks(model, IDS, {"embed": lambda x: x})
