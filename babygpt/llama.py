"""LLaMA 1 and 2 in PyTorch: RMSNorm, rotary position embeddings, SwiGLU, grouped-query attention
and a KV cache, with the published configurations by name.

Follows Meta's reference ``llama/model.py`` (Touvron et al. 2023a, 2023b) as Karpathy's llama2.c
``model.py`` writes it, parameter names included (``tok_embeddings``, ``layers.N.attention.wq``,
``feed_forward.w1`` ...), so that llama2.c checkpoints load without renaming:

* pre-norm blocks with RMSNorm (Zhang & Sennrich 2019), eps inside the square root;
* rotary position embeddings (Su et al. 2021) on queries and keys, in Meta's convention: channels
  ``(2i, 2i+1)`` of a head form the pair rotated by angle ``position · θ^(-2i/head_dim)``
  (Hugging Face's LLaMA pairs channel ``i`` with ``i + head_dim/2``; ``babygpt.llama_checkpoints``
  converts between the two by permuting the rows of ``wq`` and ``wk``);
* a SwiGLU feed-forward (Shazeer 2020), ``w2(silu(w1 x) * w3 x)``, hidden size ``2/3 · 4d``
  rounded up to a multiple of ``multiple_of``;
* grouped-query attention (Ainslie et al. 2023): ``n_kv_head`` key/value heads, each shared by
  ``n_head / n_kv_head`` query heads (LLaMA 2 70B: 64 query heads, 8 key/value heads);
* no biases, no dropout; a KV cache for generation (``babygpt.kv_cache``) that stores every
  layer's rotated keys and values, so that each new token costs one position's work.

What the seed BabyGPT's LLaMA trainer did differently is available as options, so that its
3,222,381 parameters can be reproduced by name (``LlamaConfig.named("babygpt-llama-trainer-seed")``):
biased attention projections and head, and learned absolute positions. Its RoPE was applied only
on the first forward call (an indentation bug), so that configuration sets ``rope=False``: what
it really trained.
"""

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from lmbase.checks import check_model_shape
from . import generate as engine
from .generate import sample_next  # noqa: F401 (re-exported: chapter 8 and its tests sample with it)
from .kv_cache import KVCache, new_kv_caches, positions_of
from .model import check_token_ids, check_token_shape


def swiglu_hidden_dim(d_model: int, multiple_of: int = 256, ffn_dim_multiplier: float | None = None) -> int:
    """Meta's SwiGLU hidden size: ``2/3 · 4 d`` (times the multiplier), rounded up to ``multiple_of``.

    The 2/3 keeps the three matrices of SwiGLU at the cost of a 4d two-matrix MLP.
    """
    hidden = int(2 * 4 * d_model / 3)
    if ffn_dim_multiplier is not None:
        hidden = int(ffn_dim_multiplier * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


@dataclass(frozen=True)
class LlamaConfig:
    """A LLaMA's shape. ``context`` is the longest sequence (the length of the RoPE cache);
    ``n_kv_head`` (default ``n_head``) the key/value heads of grouped-query attention;
    ``hidden_dim`` the SwiGLU width (default: Meta's rule with ``multiple_of=256``).

    ``bias``, ``head_bias`` and ``learned_positions`` are the seed trainer's deviations, off in
    LLaMA; ``rope=False`` turns rotary embeddings off (the seed effectively trained without them).
    """

    vocab_size: int
    context: int
    n_layer: int
    n_head: int
    d_model: int
    n_kv_head: int | None = None
    hidden_dim: int | None = None
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_embeddings: bool = False
    rope: bool = True
    bias: bool = False
    head_bias: bool = False
    learned_positions: bool = False

    def __post_init__(self):
        check_model_shape(self)
        if self.n_kv_head is None:
            object.__setattr__(self, "n_kv_head", self.n_head)
        if self.hidden_dim is None:
            object.__setattr__(self, "hidden_dim", swiglu_hidden_dim(self.d_model))
        if self.n_kv_head < 1 or self.n_head % self.n_kv_head:
            raise ValueError(
                f"n_head={self.n_head} is not divisible by n_kv_head={self.n_kv_head}: in grouped-query "
                f"attention every key/value head serves the same number of query heads; pick n_kv_head "
                f"among the divisors of {self.n_head}"
            )
        if self.rope and self.head_dim % 2:
            raise ValueError(f"head_dim={self.head_dim} is odd: RoPE rotates pairs of channels, use an even head_dim")
        if self.tie_embeddings and self.head_bias:
            raise ValueError("a tied output layer has no bias of its own: set head_bias=False or tie_embeddings=False")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @classmethod
    def named(cls, name: str, **overrides) -> "LlamaConfig":
        """A published configuration by name (see ``NAMED_LLAMA_CONFIGS``), with any field overridden."""
        if name not in NAMED_LLAMA_CONFIGS:
            raise KeyError(f"unknown configuration {name!r}: the named ones are {sorted(NAMED_LLAMA_CONFIGS)}")
        return replace(NAMED_LLAMA_CONFIGS[name], **overrides)

    def to_dict(self) -> dict:
        return asdict(self)


def _meta(d_model, n_layer, n_head, context, norm_eps, **rest) -> LlamaConfig:
    """A Meta release: 32,000-token SentencePiece vocabulary, SwiGLU width by Meta's rule."""
    multiple_of = rest.pop("multiple_of", 256)
    hidden = swiglu_hidden_dim(d_model, multiple_of, rest.pop("ffn_dim_multiplier", None))
    return LlamaConfig(vocab_size=32000, context=context, n_layer=n_layer, n_head=n_head, d_model=d_model,
                       hidden_dim=hidden, norm_eps=norm_eps, **rest)


def _stories(d_model, n_layer, n_head, context) -> LlamaConfig:
    """Karpathy's llama2.c TinyStories models: tied embeddings, SwiGLU width rounded to 32."""
    return LlamaConfig(vocab_size=32000, context=context, n_layer=n_layer, n_head=n_head, d_model=d_model,
                       hidden_dim=swiglu_hidden_dim(d_model, 32), tie_embeddings=True)


NAMED_LLAMA_CONFIGS = {
    # LLaMA 1 (Touvron et al. 2023a, table 2): context 2048, RMSNorm eps 1e-6.
    "llama-7b": _meta(4096, 32, 32, 2048, 1e-6),
    "llama-13b": _meta(5120, 40, 40, 2048, 1e-6),
    "llama-33b": _meta(6656, 60, 52, 2048, 1e-6),
    "llama-65b": _meta(8192, 80, 64, 2048, 1e-6),
    # LLaMA 2 (Touvron et al. 2023b): context 4096, eps 1e-5; 70B uses GQA with 8 key/value heads.
    "llama2-7b": _meta(4096, 32, 32, 4096, 1e-5),
    "llama2-13b": _meta(5120, 40, 40, 4096, 1e-5),
    "llama2-70b": _meta(8192, 80, 64, 4096, 1e-5, n_kv_head=8, ffn_dim_multiplier=1.3, multiple_of=4096),
    # llama2.c's TinyStories checkpoints, the "15M" and "42M" links of the seed's README.
    "stories15m": _stories(288, 6, 6, 256),
    "stories42m": _stories(512, 8, 8, 1024),
    "stories110m": _stories(768, 12, 12, 1024),
    # The seed's LLaMA trainer dimensions (109-character vocabulary, context 64, 4 layers, 4 heads,
    # d 256, SwiGLU 682) as a real LLaMA: RoPE, no biases, no position table.
    "babygpt-llama-trainer": LlamaConfig(vocab_size=109, context=64, n_layer=4, n_head=4, d_model=256, hidden_dim=682),
    # ...and as the seed built and trained it: biased q/k/v/o and head, learned positions, no RoPE.
    "babygpt-llama-trainer-seed": LlamaConfig(
        vocab_size=109, context=64, n_layer=4, n_head=4, d_model=256, hidden_dim=682,
        rope=False, bias=True, head_bias=True, learned_positions=True,
    ),
    # The course model of Tiny Shakespeare (lmbase.course_models): the shape of babygpt's
    # "shakespeare-small" GPT, as a LLaMA (SwiGLU width 512 keeps the parameter count equal).
    "shakespeare-small": LlamaConfig(vocab_size=65, context=128, n_layer=4, n_head=4, d_model=192, hidden_dim=512),
    # Small enough to test and train on a CPU in seconds; 2 key/value heads for 4 query heads.
    "tiny": LlamaConfig(vocab_size=65, context=64, n_layer=2, n_head=4, n_kv_head=2, d_model=64, hidden_dim=172),
}


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x²) + eps) · weight`` over the last dimension, computed in float32."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def build_rope_cache(context: int, head_dim: int, theta: float = 10000.0, device=None) -> torch.Tensor:
    """The rotation of every position: (context, head_dim // 2, 2) holding cos and sin of
    ``position · θ^(-2i/head_dim)`` for pair i (the seed's lit-llama ``build_rope_cache``)."""
    if head_dim % 2:
        raise ValueError(f"head_dim={head_dim} is odd: RoPE rotates pairs of channels")
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim))
    angles = torch.outer(torch.arange(context, device=device).float(), inv_freq)
    return torch.stack([angles.cos(), angles.sin()], dim=-1)


def apply_rope(x: torch.Tensor, cache: torch.Tensor, start=0) -> torch.Tensor:
    """Rotate each channel pair ``(x[2i], x[2i+1])`` of x (batch, heads, seq, head_dim) by the angle
    of its position ``start + t`` (start an int, or a (batch,) tensor of one start per row).
    Returns a tensor of x's shape and dtype."""
    seq = x.shape[-2]
    positions = positions_of(start, seq, x.device)
    if int(positions.max()) >= cache.shape[0]:
        raise ValueError(
            f"positions up to {int(positions.max())} go past the RoPE cache of {cache.shape[0]} positions: "
            f"crop the sequence to the model's context ({cache.shape[0]}) or build a longer cache"
        )
    rope = cache[positions]  # (seq, pairs, 2), or (batch, 1, seq, pairs, 2) to broadcast over the heads
    if rope.ndim == 4:
        rope = rope[:, None]
    cos, sin = rope[..., 0], rope[..., 1]
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)
    return rotated.flatten(-2).type_as(x)


class Attention(nn.Module):
    """Causal grouped-query attention with RoPE: (batch, seq, d_model) -> (batch, seq, d_model)."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.n_kv_head, config.head_dim
        self.wq = nn.Linear(config.d_model, config.n_head * config.head_dim, bias=config.bias)
        self.wk = nn.Linear(config.d_model, config.n_kv_head * config.head_dim, bias=config.bias)
        self.wv = nn.Linear(config.d_model, config.n_kv_head * config.head_dim, bias=config.bias)
        self.wo = nn.Linear(config.n_head * config.head_dim, config.d_model, bias=config.bias)

    def forward(self, x, rope: torch.Tensor | None, start=0, cache: KVCache | None = None):
        batch, seq, _ = x.shape
        q = self.wq(x).view(batch, seq, self.n_head, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(batch, seq, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(batch, seq, self.n_kv_head, self.head_dim).transpose(1, 2)
        if rope is not None:
            q, k = apply_rope(q, rope, start), apply_rope(k, rope, start)
        if cache is not None:
            # the cache stores the rotated keys: each at its own position, once
            k, v, visible = cache.update(k, v, start)
        groups = self.n_head // self.n_kv_head
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=visible)
        return self.wo(y.transpose(1, 2).reshape(batch, seq, self.n_head * self.head_dim))


class FeedForward(nn.Module):
    """SwiGLU: ``w2(silu(w1 x) * w3 x)``, d_model -> hidden_dim -> d_model, no biases."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.w1 = nn.Linear(config.d_model, config.hidden_dim, bias=False)
        self.w2 = nn.Linear(config.hidden_dim, config.d_model, bias=False)
        self.w3 = nn.Linear(config.d_model, config.hidden_dim, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    """x + attention(norm(x)), then + feed_forward(norm(x))."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.attention_norm = RMSNorm(config.d_model, config.norm_eps)
        self.attention = Attention(config)
        self.ffn_norm = RMSNorm(config.d_model, config.norm_eps)
        self.feed_forward = FeedForward(config)

    def forward(self, x, rope, start=0, cache: KVCache | None = None):
        x = x + self.attention(self.attention_norm(x), rope, start, cache)
        return x + self.feed_forward(self.ffn_norm(x))


class Llama(nn.Module):
    """Token ids (batch, seq) -> next-token logits (batch, seq, vocab_size)."""

    def __init__(self, config: LlamaConfig, seed: int = 0):
        super().__init__()
        self.config = config
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.d_model)
        if config.learned_positions:
            self.pos_embeddings = nn.Embedding(config.context, config.d_model)
        self.layers = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layer))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.output = nn.Linear(config.d_model, config.vocab_size, bias=config.head_bias)
        if config.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        # A buffer, not a parameter: it moves with .to(device) and is rebuilt, never saved.
        rope = build_rope_cache(config.context, config.head_dim, config.rope_theta) if config.rope else None
        self.register_buffer("rope_cache", rope, persistent=False)
        if not any(p.is_meta for p in self.parameters()):
            self.reset_parameters(seed)

    def reset_parameters(self, seed: int = 0) -> None:
        """llama2.c's initialisation from a generator seeded by ``seed``: N(0, 0.02) matrices, the
        layers writing into the residual stream (wo, w3) scaled by 1/√(2·n_layer), unit norms."""
        generator = torch.Generator().manual_seed(seed)
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
                elif p.ndim == 1:
                    p.fill_(1.0)
                else:
                    std = residual_std if name.endswith(("wo.weight", "w3.weight")) else 0.02
                    p.copy_(torch.randn(p.shape, generator=generator) * std)

    def num_parameters(self) -> int:
        """Every trainable number, a tied matrix counted once."""
        return sum(p.numel() for p in self.parameters())

    def new_kv_caches(self, batch: int, length: int | None = None) -> list[KVCache]:
        """Empty KV caches for every layer: ``batch`` rows of ``length`` positions (default: the context)."""
        c = self.config
        return new_kv_caches(c.n_layer, batch, c.n_kv_head, length or c.context, c.head_dim, self.tok_embeddings.weight)

    def forward(self, ids: torch.Tensor, start=0, caches: list[KVCache] | None = None,
                validate: bool = True) -> torch.Tensor:
        """ids (batch, seq) at positions ``start .. start + seq - 1`` -> logits (batch, seq, vocab);
        ``start`` is an int, or a (batch,) tensor of one start per row.

        With ``caches`` (from :meth:`new_kv_caches`), the keys and values of these positions are
        stored and attention also reads every earlier cached position. ``validate=False`` skips
        the token-id range check (a device sync on a GPU).
        """
        check_token_shape(ids)
        batch, seq = ids.shape
        end = seq + (start if isinstance(start, int) else int(start.max()))
        if end > self.config.context:
            raise ValueError(
                f"positions up to {end - 1} do not fit this model's context of {self.config.context} "
                f"(the length of its RoPE cache): crop the input to its last {self.config.context} tokens"
            )
        if validate:
            check_token_ids(ids, self.config.vocab_size)
        x = self.tok_embeddings(ids)
        if self.config.learned_positions:
            x = x + self.pos_embeddings(positions_of(start, seq, ids.device))
        for i, layer in enumerate(self.layers):
            x = layer(x, self.rope_cache, start, None if caches is None else caches[i])
        return self.output(self.norm(x))

    def generate(self, ids, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator=None, use_cache: bool = True, **options):
        """Append ``max_new_tokens`` tokens to ids (batch, seq): ``babygpt.generate.generate``,
        whose ``options`` are top_p, min_p and repetition_penalty. ``temperature=0`` is greedy.

        With ``use_cache`` the prompt is read once and each new token costs one position; without
        it every step re-reads the whole window, the slow way the cache must agree with.
        """
        return engine.generate(self, ids, max_new_tokens, temperature=temperature, top_k=top_k,
                               generator=generator, use_cache=use_cache, **options)
