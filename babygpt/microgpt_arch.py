"""microgpt's architecture in PyTorch, so that one checkpoint runs in both packages.

The seed microGPT (github kandarpa02/microGPT, ``micro_gpt_4``) computes, per block,
``h = x + Attn(LN(x)); x = h + FFN(h)``: one LayerNorm, feeding attention only, written as
``gain · (x − mean) / (std + 1e-5) + bias`` with the population std (eps outside the square root).
The input is the token embedding × √d plus sinusoidal positions (sin in even columns, cos in odd,
angle ``p / 10000^(2i/d)``); the logits are ``x @ Eᵀ`` with the same embedding E and no final
norm. Attention: four bias-free d×d matrices used as ``x @ W``, heads as contiguous column
blocks, scores scaled by 1/√(d/H), causal. FFN: d → 4d → d with biases and tanh-approximated GELU.

Variants (``MicroGPTConfig.variant``):

* ``"seed"``: ``micro_gpt_4`` exactly, as above.
* ``"seed-ln-stream"``: ``micro_gpt_1``/``micro_gpt_2``, whose residual stream carries LN(x):
  ``n = LN(x); h = n + Attn(n); x = h + FFN(h)``.
* ``"corrected"``: the course's default, a pre-LN GPT: ``x = x + Attn(LN1(x)); x = x + FFN(LN2(x))``
  and a final LayerNorm before the tied output, every LayerNorm the standard one
  (``(x − mean) / √(var + 1e-5)``).

Weights are kept as microgpt keeps them, matrices of shape (d_in, d_out) used as ``x @ W``, under
microgpt's checkpoint names (:func:`checkpoint_name`), so converting is copying, not transposing.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lmbase.checkpoint import check_shapes

VARIANTS = ("seed", "seed-ln-stream", "corrected")
SEED_LN_EPS = 1e-5


@dataclass(frozen=True)
class MicroGPTConfig:
    """microgpt's shape: ``context`` only bounds the input (sinusoidal positions have no table)."""

    vocab_size: int
    d_model: int
    n_heads: int
    n_layers: int
    context: int
    variant: str = "seed"

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant={self.variant!r} is not one of {VARIANTS}")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}: pick n_heads among "
                f"the divisors of {self.d_model}"
            )
        if self.d_model % 2:
            raise ValueError(f"d_model={self.d_model} must be even: positions pair a sin with a cos column")

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoidal_positions(seq: int, d_model: int) -> torch.Tensor:
    """pe[p, 2i] = sin(p / 10000^(2i/d)), pe[p, 2i+1] = cos(same angle): shape (seq, d_model)."""
    positions = torch.arange(seq, dtype=torch.float64)[:, None]
    frequencies = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    pe = torch.zeros(seq, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(positions * frequencies)
    pe[:, 1::2] = torch.cos(positions * frequencies)
    return pe.float()


def seed_layer_norm(x, gain, bias, eps: float = SEED_LN_EPS):
    """The seed's LayerNorm: gain · (x − mean) / (population std + eps) + bias, over the last axis."""
    mean = x.mean(dim=-1, keepdim=True)
    std = x.var(dim=-1, keepdim=True, unbiased=False).sqrt()
    return gain * (x - mean) / (std + eps) + bias


class MicroGPTBlock(nn.Module):
    """One block; which LayerNorms it has and where the residual goes depend on the variant."""

    def __init__(self, config: MicroGPTConfig):
        super().__init__()
        d = config.d_model
        self.variant, self.n_heads = config.variant, config.n_heads
        self.ln1_gain, self.ln1_bias = nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d))
        if config.variant == "corrected":
            self.ln2_gain, self.ln2_bias = nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d))
        self.wq, self.wk, self.wv, self.wo = (nn.Parameter(torch.empty(d, d)) for _ in range(4))
        self.w1, self.b1 = nn.Parameter(torch.empty(d, 4 * d)), nn.Parameter(torch.zeros(4 * d))
        self.w2, self.b2 = nn.Parameter(torch.empty(4 * d, d)), nn.Parameter(torch.zeros(d))

    def norm(self, x, gain, bias):
        if self.variant == "corrected":
            return F.layer_norm(x, x.shape[-1:], gain, bias, eps=1e-5)
        return seed_layer_norm(x, gain, bias)

    def attention(self, x):
        """Causal multi-head attention with bias-free x @ W projections: (batch, seq, d) -> same."""
        batch, seq, d = x.shape
        q, k, v = (
            (x @ w).view(batch, seq, self.n_heads, d // self.n_heads).transpose(1, 2) for w in (self.wq, self.wk, self.wv)
        )
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return out.transpose(1, 2).reshape(batch, seq, d) @ self.wo

    def ffn(self, x):
        return F.gelu(x @ self.w1 + self.b1, approximate="tanh") @ self.w2 + self.b2

    def forward(self, x):
        if self.variant == "seed":
            h = x + self.attention(self.norm(x, self.ln1_gain, self.ln1_bias))
            return h + self.ffn(h)
        if self.variant == "seed-ln-stream":
            n = self.norm(x, self.ln1_gain, self.ln1_bias)
            h = n + self.attention(n)
            return h + self.ffn(h)
        x = x + self.attention(self.norm(x, self.ln1_gain, self.ln1_bias))
        return x + self.ffn(self.norm(x, self.ln2_gain, self.ln2_bias))


class MicroGPT(nn.Module):
    """microgpt's model in PyTorch: token ids (batch, seq) -> logits (batch, seq, vocab_size)."""

    def __init__(self, config: MicroGPTConfig, seed: int = 0):
        super().__init__()
        self.config = config
        self.embedding = nn.Parameter(torch.empty(config.vocab_size, config.d_model))
        self.blocks = nn.ModuleList(MicroGPTBlock(config) for _ in range(config.n_layers))
        if config.variant == "corrected":
            self.ln_f_gain = nn.Parameter(torch.ones(config.d_model))
            self.ln_f_bias = nn.Parameter(torch.zeros(config.d_model))
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int = 0) -> None:
        """N(0, 0.02) matrices from a generator seeded by ``seed``; zero biases, unit gains."""
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.ndim == 2:
                    p.copy_(torch.randn(p.shape, generator=generator) * 0.02)
                elif "gain" in name:
                    p.fill_(1.0)
                else:
                    p.zero_()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, ids: torch.Tensor, validate: bool = True) -> torch.Tensor:
        from .model import check_token_ids

        batch, seq = ids.shape
        if seq > self.config.context:
            raise ValueError(
                f"the sequence has {seq} tokens but this model's context is {self.config.context}: "
                f"crop the input to its last {self.config.context} tokens"
            )
        if validate:
            check_token_ids(ids, self.config.vocab_size)
        d = self.config.d_model
        x = self.embedding[ids] * math.sqrt(d) + sinusoidal_positions(seq, d).to(ids.device)
        for block in self.blocks:
            x = block(x)
        if self.config.variant == "corrected":
            x = F.layer_norm(x, (d,), self.ln_f_gain, self.ln_f_bias, eps=1e-5)
        return x @ self.embedding.T


def checkpoint_name(torch_name: str) -> str:
    """microgpt's checkpoint name of one of our parameters (``blocks.0.wq`` -> ``blocks.0.attn.wq``)."""
    parts = torch_name.split(".")
    if parts[0] != "blocks":
        return {"embedding": "embedding", "ln_f_gain": "ln_f.gain", "ln_f_bias": "ln_f.bias"}[torch_name]
    prefix, leaf = ".".join(parts[:2]), parts[2]
    group = {"wq": "attn", "wk": "attn", "wv": "attn", "wo": "attn", "w1": "ffn", "b1": "ffn", "w2": "ffn", "b2": "ffn"}
    if leaf in group:
        return f"{prefix}.{group[leaf]}.{leaf}"
    norm, field = leaf.split("_")  # ln1_gain -> ln1.gain
    return f"{prefix}.{norm}.{field}"


def microgpt_tensors(model: MicroGPT) -> dict:
    """The model's weights as microgpt stores them: float32 numpy arrays under microgpt's names."""
    return {checkpoint_name(n): p.detach().float().cpu().numpy() for n, p in model.named_parameters()}


def load_microgpt_tensors(model: MicroGPT, tensors: dict, source: str = "the checkpoint") -> None:
    """Copy microgpt-named tensors into ``model``; a missing, extra or misshapen tensor raises."""
    params = {checkpoint_name(n): p for n, p in model.named_parameters()}
    check_shapes({n: tuple(p.shape) for n, p in params.items()}, {n: np.shape(t) for n, t in tensors.items()}, source)
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(torch.from_numpy(np.asarray(tensors[name], dtype=np.float32)))
