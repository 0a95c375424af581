"""microgpt's architecture in PyTorch, so that one checkpoint runs in both packages.

The seed microGPT (github kandarpa02/microGPT, ``micro_gpt_4``) computes, per block,
``h = x + Attn(LN(x)); x = h + FFN(h)``: one LayerNorm, feeding attention only, written as
``scale · (x − mean) / (std + 1e-5) + bias`` with the population std (eps outside the square
root). The input is the token embedding × √d plus sinusoidal positions (sin in even columns, cos
in odd, angle ``p / 10000^(2i/d)``); the logits are ``x @ Eᵀ`` with the same embedding E and no
final norm. Attention: four bias-free d×d matrices used as ``x @ W``, heads as contiguous column
blocks, scores scaled by 1/√(d/H), causal. FFN: d → 4d → d with biases and tanh-approximated GELU.

``MicroGPTConfig`` is microgpt's own ``GPTConfig`` (``lmbase.microgpt_config``, framework-free),
so a config.json written by either package builds the same model in the other. Its ``block`` is one of:

* ``"pre_norm"``, the course's default (GPT-2's): ``x = x + Attn(LN1(x)); x = x + FFN(LN2(x))``,
  with a final LayerNorm (``final_norm``) and the standard ``(x − mean) / √(var + eps)``;
* ``"seed"``: ``micro_gpt_4`` exactly, as above;
* ``"seed_normed_residual"``: ``micro_gpt_1``/``micro_gpt_2``, whose residual stream carries
  LN(x): ``n = LN(x); h = n + Attn(n); x = h + FFN(h)``.

Weights are kept as microgpt keeps them, matrices of shape (d_in, d_out) used as ``x @ W``, under
microgpt's checkpoint names (``embed``, ``blocks.i.attn.w_q``, ``blocks.i.ffn.w_in``,
``blocks.i.ln1.scale``, ``ln_f.bias``, ...), so converting is copying, never transposing.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from lmbase.microgpt_config import BLOCK_STYLES, GPTConfig as MicroGPTConfig  # noqa: F401 (re-exported)

from . import generate as engine
from .kv_cache import KVCache, check_fits_context, new_kv_caches, positions_of
from .model import check_token_ids, check_token_shape


def sinusoidal_positions(seq: int, d_model: int, start=0) -> torch.Tensor:
    """pe[p, 2i] = sin(p / 10000^(2i/d)), pe[p, 2i+1] = cos(same angle) for the positions
    p = start .. start + seq - 1: shape (seq, d_model), or (batch, seq, d_model) for a (batch,)
    tensor ``start`` of one start per row."""
    positions = positions_of(start, seq).double()[..., None]
    frequencies = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    pe = torch.zeros(*positions.shape[:-1], d_model, dtype=torch.float64)
    pe[..., 0::2] = torch.sin(positions * frequencies)
    pe[..., 1::2] = torch.cos(positions * frequencies)
    return pe.float()


def layer_norm(x, scale, bias, eps: float, eps_inside_sqrt: bool):
    """scale · (x − mean) / σ + bias over the last axis, σ = √(var + eps), or the seed's std + eps."""
    if eps_inside_sqrt:
        return F.layer_norm(x, x.shape[-1:], scale, bias, eps=eps)
    mean = x.mean(dim=-1, keepdim=True)
    std = x.var(dim=-1, keepdim=True, unbiased=False).sqrt()
    return scale * (x - mean) / (std + eps) + bias


class LayerNorm(nn.Module):
    """A LayerNorm with microgpt's parameter names (``scale``, ``bias``) and either σ."""

    def __init__(self, d: int, eps: float, eps_inside_sqrt: bool):
        super().__init__()
        self.scale, self.bias = nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d))
        self.eps, self.eps_inside_sqrt = eps, eps_inside_sqrt

    def forward(self, x):
        return layer_norm(x, self.scale, self.bias, self.eps, self.eps_inside_sqrt)


class Attention(nn.Module):
    """Causal multi-head attention with bias-free ``x @ W`` projections: (batch, seq, d) -> same."""

    def __init__(self, config: MicroGPTConfig):
        super().__init__()
        d = config.d_model
        self.n_head, self.dropout = config.n_head, config.dropout
        self.w_q, self.w_k, self.w_v, self.w_o = (nn.Parameter(torch.empty(d, d)) for _ in range(4))

    def forward(self, x, start=0, cache: KVCache | None = None):
        """With ``cache``, x holds positions ``start ..``: their keys and values are stored, and
        the queries also attend every earlier position in the cache."""
        batch, seq, d = x.shape
        q, k, v = (
            (x @ w).view(batch, seq, self.n_head, d // self.n_head).transpose(1, 2) for w in (self.w_q, self.w_k, self.w_v)
        )
        if cache is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        else:
            k, v, visible = cache.update(k, v, start)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=visible)
        return out.transpose(1, 2).reshape(batch, seq, d) @ self.w_o


class FeedForward(nn.Module):
    """``GELU_tanh(x @ w_in + b_in) @ w_out + b_out``, d -> 4d -> d."""

    def __init__(self, d: int):
        super().__init__()
        self.w_in, self.b_in = nn.Parameter(torch.empty(d, 4 * d)), nn.Parameter(torch.zeros(4 * d))
        self.w_out, self.b_out = nn.Parameter(torch.empty(4 * d, d)), nn.Parameter(torch.zeros(d))

    def forward(self, x):
        return F.gelu(x @ self.w_in + self.b_in, approximate="tanh") @ self.w_out + self.b_out


class MicroGPTBlock(nn.Module):
    """One block in the style ``config.block`` (see the module docstring)."""

    def __init__(self, config: MicroGPTConfig):
        super().__init__()
        self.style = config.block
        self.ln1 = LayerNorm(config.d_model, config.ln_eps, config.ln_eps_inside_sqrt)
        self.attn = Attention(config)
        if config.block == "pre_norm":
            self.ln2 = LayerNorm(config.d_model, config.ln_eps, config.ln_eps_inside_sqrt)
        self.ffn = FeedForward(config.d_model)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x, start=0, cache: KVCache | None = None):
        if self.style == "pre_norm":
            x = x + self.drop(self.attn(self.ln1(x), start, cache))
            return x + self.drop(self.ffn(self.ln2(x)))
        if self.style == "seed":
            h = x + self.drop(self.attn(self.ln1(x), start, cache))
            return h + self.drop(self.ffn(h))
        n = self.ln1(x)  # seed_normed_residual: the stream carries LN(x)
        h = n + self.drop(self.attn(n, start, cache))
        return h + self.drop(self.ffn(h))


class MicroGPT(nn.Module):
    """microgpt's model in PyTorch: token ids (batch, seq) -> logits (batch, seq, vocab_size)."""

    def __init__(self, config: MicroGPTConfig, seed: int = 0):
        super().__init__()
        self.config = config
        self.embed = nn.Parameter(torch.empty(config.vocab_size, config.d_model))
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(MicroGPTBlock(config) for _ in range(config.n_layer))
        if config.final_norm:
            self.ln_f = LayerNorm(config.d_model, config.ln_eps, config.ln_eps_inside_sqrt)
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int = 0) -> None:
        """N(0, init_std) matrices from a generator seeded by ``seed``; zero biases, unit scales.
        With ``shared_block_init`` every block starts as a copy of the first, as in the seed."""
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.ndim == 2:
                    p.copy_(torch.randn(p.shape, generator=generator) * self.config.init_std)
                elif name.endswith("scale"):
                    p.fill_(1.0)
                else:
                    p.zero_()
            if self.config.shared_block_init:
                for block in self.blocks[1:]:
                    block.load_state_dict(self.blocks[0].state_dict())

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def new_kv_caches(self, batch: int, length: int | None = None) -> list[KVCache]:
        """Empty KV caches for every layer: ``batch`` rows of ``length`` positions (default: the context)."""
        c = self.config
        return new_kv_caches(c.n_layer, batch, c.n_head, length or c.context, c.d_model // c.n_head, self.embed)

    def forward(self, ids: torch.Tensor, start=0, caches: list[KVCache] | None = None,
                validate: bool = True) -> torch.Tensor:
        """ids (batch, seq) of int64 in [0, vocab_size) at positions ``start .. start + seq - 1``
        (an int, or a (batch,) tensor of one start per row), within the context -> logits
        (batch, seq, vocab). ``caches`` as in :meth:`babygpt.model.GPT.forward`."""
        check_token_shape(ids)
        batch, seq = ids.shape
        check_fits_context(start, seq, self.config.context)
        if validate:
            check_token_ids(ids, self.config.vocab_size)
        d = self.config.d_model
        x = self.drop(self.embed[ids] * math.sqrt(d) + sinusoidal_positions(seq, d, start).to(ids.device))
        for i, block in enumerate(self.blocks):
            x = block(x, start, None if caches is None else caches[i])
        if self.config.final_norm:
            x = self.ln_f(x)
        return x @ self.embed.T

    def generate(self, ids, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator=None, **options):
        """Append ``max_new_tokens`` tokens to ids (batch, seq) with ``babygpt.generate.generate``
        (options: top_p, min_p, repetition_penalty, use_cache): the tokens microgpt's
        ``microgpt.generate.generate`` gives from the same checkpoint, when greedy."""
        return engine.generate(self, ids, max_new_tokens, temperature=temperature, top_k=top_k,
                               generator=generator, **options)


def microgpt_tensors(model: MicroGPT) -> dict:
    """The model's weights as microgpt stores them: float32 numpy arrays under microgpt's names."""
    return {name: p.detach().float().cpu().numpy() for name, p in model.named_parameters()}
