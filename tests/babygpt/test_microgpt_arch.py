"""babygpt.microgpt_arch: microgpt's model in PyTorch, against a float64 numpy recomputation of the
seed's math, and through the shared checkpoint format and back."""

import math
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from babygpt.checkpoint import load_model, save_model
from babygpt.microgpt_arch import BLOCK_STYLES, MicroGPT, MicroGPTConfig, layer_norm, microgpt_tensors
from lmbase.checkpoint import CheckpointError, load_checkpoint
from lmbase.microgpt_config import seed_config


def numpy_logits(t: dict, ids: np.ndarray, config: MicroGPTConfig) -> np.ndarray:
    """The seed's forward pass in float64 numpy, from microgpt-named tensors."""
    t = {k: np.asarray(v, dtype=np.float64) for k, v in t.items()}
    d, heads = config.d_model, config.n_head

    def ln(x, prefix):
        mean = x.mean(-1, keepdims=True)
        if config.ln_eps_inside_sqrt:
            sigma = np.sqrt(x.var(-1, keepdims=True) + config.ln_eps)
        else:  # the seed's population std plus eps
            sigma = x.std(-1, keepdims=True) + config.ln_eps
        return t[prefix + ".scale"] * (x - mean) / sigma + t[prefix + ".bias"]

    def attention(x, b):
        seq = x.shape[1]
        q, k, v = (x @ t[f"{b}.attn.{w}"] for w in ("w_q", "w_k", "w_v"))
        out = np.zeros_like(x)
        for h in range(heads):
            cols = slice(h * d // heads, (h + 1) * d // heads)
            scores = q[..., cols] @ np.swapaxes(k[..., cols], 1, 2) / math.sqrt(d / heads)
            scores = np.where(np.tril(np.ones((seq, seq), bool)), scores, -np.inf)
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            out[..., cols] = weights / weights.sum(-1, keepdims=True) @ v[..., cols]
        return out @ t[f"{b}.attn.w_o"]

    def ffn(x, b):
        h = x @ t[f"{b}.ffn.w_in"] + t[f"{b}.ffn.b_in"]
        gelu = 0.5 * h * (1 + np.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
        return gelu @ t[f"{b}.ffn.w_out"] + t[f"{b}.ffn.b_out"]

    seq = ids.shape[1]
    pos = np.arange(seq)[:, None] / 10000 ** (np.arange(0, d, 2) / d)
    pe = np.zeros((seq, d))
    pe[:, 0::2], pe[:, 1::2] = np.sin(pos), np.cos(pos)
    x = t["embed"][ids] * math.sqrt(d) + pe
    for i in range(config.n_layer):
        b = f"blocks.{i}"
        if config.block == "seed":
            h = x + attention(ln(x, b + ".ln1"), b)
            x = h + ffn(h, b)
        elif config.block == "seed_normed_residual":
            n = ln(x, b + ".ln1")
            h = n + attention(n, b)
            x = h + ffn(h, b)
        else:
            x = x + attention(ln(x, b + ".ln1"), b)
            x = x + ffn(ln(x, b + ".ln2"), b)
    if config.final_norm:
        x = ln(x, "ln_f")
    return x @ t["embed"].T


def randomised(config: MicroGPTConfig, seed: int = 0) -> MicroGPT:
    model = MicroGPT(config, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # gains and biases away from 1 and 0, so that each one is tested
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=generator))
    return model


SMALL = dict(vocab_size=40, context=16, n_layer=2, n_head=4, d_model=32)
CONFIGS = {
    "pre_norm": MicroGPTConfig(**SMALL),
    "seed": seed_config(40, 32, n_layer=2, n_head=4, context=16),
    "seed_normed_residual": replace(seed_config(40, 32, n_layer=2, n_head=4, context=16), block="seed_normed_residual"),
}


@pytest.mark.parametrize("block", BLOCK_STYLES)
def test_forward_equals_the_float64_numpy_recomputation(block):
    config = CONFIGS[block]
    model = randomised(config)
    ids = np.random.default_rng(0).integers(0, 40, size=(2, 16))
    ours = model(torch.from_numpy(ids)).detach().numpy()
    np.testing.assert_allclose(ours, numpy_logits(microgpt_tensors(model), ids, config), atol=1e-4, rtol=1e-4)


def test_parameter_counts_are_the_seeds():
    assert MicroGPT(seed_config(9000, 512, n_layer=4)).num_parameters() == 17_205_248
    assert MicroGPT(seed_config(8000, 384, n_layer=4, n_head=12)).num_parameters() == 10_160_640
    one = seed_config(8000, 384, n_layer=1, block="seed_normed_residual")
    assert MicroGPT(one).num_parameters() == 4_844_160
    assert MicroGPT(replace(one, n_layer=2)).num_parameters() == 6_616_320


def test_the_seed_starts_every_block_identical_and_the_default_does_not():
    seed = MicroGPT(CONFIGS["seed"])
    assert torch.equal(seed.blocks[0].attn.w_q, seed.blocks[1].attn.w_q)
    default = MicroGPT(CONFIGS["pre_norm"])
    assert not torch.equal(default.blocks[0].attn.w_q, default.blocks[1].attn.w_q)


def test_checkpoint_round_trip_gives_identical_logits(tmp_path):
    config = CONFIGS["pre_norm"]
    model = randomised(config, seed=5)
    save_model(tmp_path / "ckpt", model)
    tensors, saved_config, _ = load_checkpoint(tmp_path / "ckpt")
    assert saved_config == {"model_type": "microgpt", "format_version": 1, **asdict(config)}
    assert tensors["blocks.1.attn.w_q"].shape == (32, 32) and tensors["blocks.0.ffn.w_in"].shape == (32, 128)
    assert set(tensors) >= {"embed", "ln_f.scale", "ln_f.bias", "blocks.0.ln2.scale", "blocks.1.ffn.b_out"}
    loaded, _ = load_model(tmp_path / "ckpt")
    ids = torch.randint(0, 40, (3, 16), generator=torch.Generator().manual_seed(0))
    assert torch.equal(loaded(ids), model(ids))
    with pytest.raises(CheckpointError, match="n_layer=2, this one expects n_layer=3"):
        load_model(tmp_path / "ckpt", expected=replace(config, n_layer=3))


@pytest.mark.parametrize("inside", [True, False])
def test_both_layer_norm_forms_match_float64_where_eps_matters(inside):
    # rows of spread 1e-3 (variance 1e-6, below eps = 1e-5): sqrt(var + eps) and std + eps differ by 3x here
    x = torch.randn(4, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 1e-3
    scale, bias = torch.linspace(0.5, 2.0, 16, dtype=torch.float64), torch.linspace(-1.0, 1.0, 16, dtype=torch.float64)
    centred = x - x.mean(-1, keepdim=True)
    var = (centred**2).mean(-1, keepdim=True)
    sigma = (var + 1e-5).sqrt() if inside else var.sqrt() + 1e-5
    got = layer_norm(x.float(), scale.float(), bias.float(), 1e-5, inside)
    torch.testing.assert_close(got.double(), scale * centred / sigma + bias, rtol=1e-5, atol=1e-5)


def test_causal_and_errors():
    model = randomised(CONFIGS["seed"])
    ids = torch.randint(0, 40, (1, 16), generator=torch.Generator().manual_seed(0))
    changed = ids.clone()
    changed[0, 9] = (ids[0, 9] + 1) % 40
    torch.testing.assert_close(model(changed)[:, :9], model(ids)[:, :9], atol=0, rtol=0)
    with pytest.raises(ValueError, match="context is 16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"must have shape \(batch, seq\), got shape \(16,\)"):
        model(ids[0])
    with pytest.raises(ValueError, match="d_model=30 is not divisible by n_head=4"):
        MicroGPTConfig(vocab_size=40, context=16, n_layer=1, n_head=4, d_model=30)
