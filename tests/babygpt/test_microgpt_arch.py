"""babygpt.microgpt_arch: microgpt's model in PyTorch, against a float64 numpy recomputation of the
seed's math, and through the shared checkpoint format and back."""

import math

import numpy as np
import pytest
import torch

from babygpt.checkpoint import load_model, save_model
from babygpt.microgpt_arch import VARIANTS, MicroGPT, MicroGPTConfig, microgpt_tensors
from lmbase.checkpoint import CheckpointError, load_checkpoint


def numpy_logits(t: dict, ids: np.ndarray, config: MicroGPTConfig) -> np.ndarray:
    """The seed's forward pass in float64 numpy, from microgpt-named tensors."""
    t = {k: np.asarray(v, dtype=np.float64) for k, v in t.items()}
    d, heads = config.d_model, config.n_heads

    def seed_ln(x, prefix):
        mean = x.mean(-1, keepdims=True)
        return t[prefix + ".gain"] * (x - mean) / (x.std(-1, keepdims=True) + 1e-5) + t[prefix + ".bias"]

    def standard_ln(x, prefix):
        mean = x.mean(-1, keepdims=True)
        return t[prefix + ".gain"] * (x - mean) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) + t[prefix + ".bias"]

    def attention(x, b):
        seq = x.shape[1]
        q, k, v = (x @ t[f"{b}.attn.{w}"] for w in ("wq", "wk", "wv"))
        out = np.zeros_like(x)
        for h in range(heads):
            cols = slice(h * d // heads, (h + 1) * d // heads)
            scores = q[..., cols] @ np.swapaxes(k[..., cols], 1, 2) / math.sqrt(d / heads)
            scores = np.where(np.tril(np.ones((seq, seq), bool)), scores, -np.inf)
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            out[..., cols] = weights / weights.sum(-1, keepdims=True) @ v[..., cols]
        return out @ t[f"{b}.attn.wo"]

    def ffn(x, b):
        h = x @ t[f"{b}.ffn.w1"] + t[f"{b}.ffn.b1"]
        gelu = 0.5 * h * (1 + np.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
        return gelu @ t[f"{b}.ffn.w2"] + t[f"{b}.ffn.b2"]

    seq = ids.shape[1]
    pos = np.arange(seq)[:, None] / 10000 ** (np.arange(0, d, 2) / d)
    pe = np.zeros((seq, d))
    pe[:, 0::2], pe[:, 1::2] = np.sin(pos), np.cos(pos)
    x = t["embedding"][ids] * math.sqrt(d) + pe
    for i in range(config.n_layers):
        b = f"blocks.{i}"
        if config.variant == "seed":
            h = x + attention(seed_ln(x, b + ".ln1"), b)
            x = h + ffn(h, b)
        elif config.variant == "seed-ln-stream":
            n = seed_ln(x, b + ".ln1")
            h = n + attention(n, b)
            x = h + ffn(h, b)
        else:
            x = x + attention(standard_ln(x, b + ".ln1"), b)
            x = x + ffn(standard_ln(x, b + ".ln2"), b)
    if config.variant == "corrected":
        x = standard_ln(x, "ln_f")
    return x @ t["embedding"].T


def randomised(config: MicroGPTConfig, seed: int = 0) -> MicroGPT:
    model = MicroGPT(config, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # gains and biases away from 1 and 0, so that each one is tested
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=generator))
    return model


@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_equals_the_float64_numpy_recomputation(variant):
    config = MicroGPTConfig(vocab_size=40, d_model=32, n_heads=4, n_layers=2, context=16, variant=variant)
    model = randomised(config)
    ids = np.random.default_rng(0).integers(0, 40, size=(2, 16))
    ours = model(torch.from_numpy(ids)).detach().numpy()
    np.testing.assert_allclose(ours, numpy_logits(microgpt_tensors(model), ids, config), atol=1e-4, rtol=1e-4)


def test_parameter_counts_are_the_seeds():
    assert MicroGPT(MicroGPTConfig(9000, 512, 8, 4, 64)).num_parameters() == 17_205_248
    assert MicroGPT(MicroGPTConfig(8000, 384, 8, 4, 64)).num_parameters() == 10_160_640
    assert MicroGPT(MicroGPTConfig(8000, 384, 8, 1, 64, "seed-ln-stream")).num_parameters() == 4_844_160
    assert MicroGPT(MicroGPTConfig(8000, 384, 8, 2, 64, "seed-ln-stream")).num_parameters() == 6_616_320


def test_checkpoint_round_trip_gives_identical_logits(tmp_path):
    config = MicroGPTConfig(vocab_size=40, d_model=32, n_heads=4, n_layers=2, context=16, variant="corrected")
    model = randomised(config, seed=5)
    save_model(tmp_path / "ckpt", model)
    tensors, saved_config, _ = load_checkpoint(tmp_path / "ckpt")
    assert saved_config == {"kind": "microgpt", "model": config.to_dict()}
    assert tensors["blocks.1.attn.wq"].shape == (32, 32) and tensors["blocks.0.ffn.w1"].shape == (32, 128)
    loaded, _ = load_model(tmp_path / "ckpt")
    ids = torch.randint(0, 40, (3, 16), generator=torch.Generator().manual_seed(0))
    assert torch.equal(loaded(ids), model(ids))
    with pytest.raises(CheckpointError, match="n_layers=2, this one expects n_layers=3"):
        load_model(tmp_path / "ckpt", expect=MicroGPTConfig(40, 32, 4, 3, 16, "corrected"))


def test_causal_and_errors():
    model = randomised(MicroGPTConfig(vocab_size=40, d_model=32, n_heads=4, n_layers=2, context=16))
    ids = torch.randint(0, 40, (1, 16), generator=torch.Generator().manual_seed(0))
    changed = ids.clone()
    changed[0, 9] = (ids[0, 9] + 1) % 40
    torch.testing.assert_close(model(changed)[:, :9], model(ids)[:, :9], atol=0, rtol=0)
    with pytest.raises(ValueError, match="context is 16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="d_model=30 is not divisible by n_heads=4"):
        MicroGPTConfig(40, 30, 4, 1, 16)
