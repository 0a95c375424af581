"""BabyGPT: a GPT in the nanoGPT style, with the seed BabyGPT's configurations by name.

Follows GPT-2 (Radford et al. 2019) as nanoGPT writes it: token and learned position
embeddings, pre-LayerNorm blocks of causal multi-head attention and a GELU MLP, a final
LayerNorm, a linear head (tied to the token embedding by default), dropout. Attention runs on
PyTorch's fused ``F.scaled_dot_product_attention``; chapter 3 shows it equals the attention
written out in ``babygpt.attention``.

What differs from the seed BabyGPT (github soumyadip1995/BabyGPT): its configurations are
reproduced by name (``GPTConfig.named("babygpt-original")``: learned positions, bias-free linear
layers, LayerNorm eps 1e-12, an untied head with a bias; 6,372,461 parameters with its
109-character vocabulary), but not its two bugs: its MLP puts GELU after the second linear layer
(so the MLP is linear), and its trainer applies the whole block stack once per layer.
"""

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from lmbase.checks import check_model_shape
from .kv_cache import KVCache, check_fits_context, new_kv_caches, positions_of


@dataclass(frozen=True)
class GPTConfig:
    """A GPT's shape. ``context`` is the longest sequence it reads; ``bias`` covers the linear layers."""

    vocab_size: int
    context: int
    n_layer: int
    n_head: int
    d_model: int
    dropout: float = 0.0
    bias: bool = True
    ln_bias: bool = True
    ln_eps: float = 1e-5
    tie_head: bool = True
    head_bias: bool = False
    linear_mlp: bool = False  # the seed's MLP: GELU after both linear layers, so the MLP is linear

    def __post_init__(self):
        check_model_shape(self)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")
        if self.tie_head and self.head_bias:
            raise ValueError("a tied head has no bias of its own: set head_bias=False or tie_head=False")

    @classmethod
    def named(cls, name: str, **overrides) -> "GPTConfig":
        """A published configuration by name (see ``NAMED_CONFIGS``), with any field overridden."""
        if name not in NAMED_CONFIGS:
            raise KeyError(f"unknown configuration {name!r}: the named ones are {sorted(NAMED_CONFIGS)}")
        return replace(NAMED_CONFIGS[name], **overrides)

    def to_dict(self) -> dict:
        return asdict(self)


# The seed's trainer model: bias-free attention and MLP, LayerNorm (with bias) eps 1e-12, untied
# biased head, 109-character vocabulary of its Eminem corpus.
_SEED_STYLE = dict(vocab_size=109, bias=False, ln_eps=1e-12, tie_head=False, head_bias=True)

NAMED_CONFIGS = {
    # README row "BabyGPT Original": context 64, 8 layers, 8 heads, 256 channels (6,372,461 parameters).
    "babygpt-original": GPTConfig(context=64, n_layer=8, n_head=8, d_model=256, **_SEED_STYLE),
    # README rows "15M" and "42M" as their table describes them (the names are llama2.c checkpoints').
    "babygpt-table-15m": GPTConfig(context=16, n_layer=4, n_head=4, d_model=16, **_SEED_STYLE),
    "babygpt-table-42m": GPTConfig(context=32, n_layer=8, n_head=8, d_model=32, **_SEED_STYLE),
    # nanoGPT's "baby" Shakespeare character model (config/train_shakespeare_char.py): 10.65M parameters.
    "nanogpt-baby": GPTConfig(
        vocab_size=65, context=256, n_layer=6, n_head=6, d_model=384, dropout=0.2, bias=False, ln_bias=False
    ),
    # The course model of Tiny Shakespeare (lmbase.zoo): nanoGPT's baby recipe shrunk to train on
    # a 2-core CPU in about half an hour (1.81M parameters).
    "shakespeare-small": GPTConfig(
        vocab_size=65, context=128, n_layer=4, n_head=4, d_model=192, dropout=0.1, bias=False, ln_bias=False
    ),
    # The pair that measures the seed's linear MLP (chapter 6): the same model with each MLP.
    "shakespeare-pair": GPTConfig(
        vocab_size=65, context=128, n_layer=4, n_head=4, d_model=128, dropout=0.1, bias=False, ln_bias=False
    ),
    "shakespeare-pair-linear-mlp": GPTConfig(
        vocab_size=65, context=128, n_layer=4, n_head=4, d_model=128, dropout=0.1, bias=False, ln_bias=False,
        linear_mlp=True,
    ),
    # A model small enough to train in a minute on a CPU.
    "tiny": GPTConfig(vocab_size=65, context=64, n_layer=2, n_head=4, d_model=64),
}


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with a fused q/k/v projection: (batch, seq, d) -> same."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head, self.dropout = config.n_head, config.dropout
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, start=0, cache: KVCache | None = None):
        """With ``cache``, x holds positions ``start ..``: their keys and values are stored, and
        the queries also attend every earlier position in the cache."""
        batch, seq, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (t.view(batch, seq, self.n_head, d // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        else:
            k, v, visible = cache.update(k, v, start)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=visible)
        y = y.transpose(1, 2).reshape(batch, seq, d)
        return self.resid_dropout(self.proj(y))


class MLP(nn.Module):
    """d -> 4d -> GELU -> d. The GELU sits between the two layers; ``linear_mlp=True`` puts it
    after both, as the seed did, which leaves the two layers one linear map."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.d_model, 4 * config.d_model, bias=config.bias)
        self.proj = nn.Linear(4 * config.d_model, config.d_model, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)
        self.linear = config.linear_mlp

    def forward(self, x):
        if self.linear:
            return self.dropout(F.gelu(self.proj(self.fc(x))))
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln1(x)), then + mlp(ln2(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.d_model, eps=config.ln_eps, bias=config.ln_bias)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.d_model, eps=config.ln_eps, bias=config.ln_bias)
        self.mlp = MLP(config)

    def forward(self, x, start=0, cache: KVCache | None = None):
        x = x + self.attn(self.ln1(x), start, cache)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Token ids (batch, seq) -> next-token logits (batch, seq, vocab_size)."""

    def __init__(self, config: GPTConfig, seed: int = 0):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.context, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.ln_eps, bias=config.ln_bias)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=config.head_bias)
        if config.tie_head:
            self.head.weight = self.tok_emb.weight
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int = 0) -> None:
        """GPT-2's initialisation, from a generator seeded by ``seed``: N(0, 0.02) weights, zero
        biases, and the layers that write into the residual stream scaled by 1/√(2·n_layer)."""
        generator = torch.Generator().manual_seed(seed)
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            with torch.no_grad():
                if name.endswith("bias"):
                    p.zero_()
                elif p.ndim == 1:  # LayerNorm gains
                    p.fill_(1.0)
                else:
                    std = residual_std if name.endswith("proj.weight") else 0.02
                    p.copy_(torch.randn(p.shape, generator=generator) * std)

    def num_parameters(self) -> int:
        """Every trainable number, a tied matrix counted once."""
        return sum(p.numel() for p in self.parameters())

    def new_kv_caches(self, batch: int, length: int | None = None) -> list[KVCache]:
        """Empty KV caches for every layer: ``batch`` rows of ``length`` positions (default: the context)."""
        c = self.config
        return new_kv_caches(c.n_layer, batch, c.n_head, length or c.context, c.d_model // c.n_head, self.tok_emb.weight)

    def forward(self, ids: torch.Tensor, start=0, caches: list[KVCache] | None = None,
                validate: bool = True) -> torch.Tensor:
        """ids (batch, seq) of int64 in [0, vocab_size) at positions ``start .. start + seq - 1``
        (start an int, or a (batch,) tensor of one start per row), within the context ->
        logits (batch, seq, vocab).

        With ``caches`` (from :meth:`new_kv_caches`) the keys and values of these positions are
        stored and attention also reads every earlier cached position (generation; see
        ``babygpt.generate``). ``validate=False`` skips the range check on the ids (a device
        sync on a GPU), for a trainer that checked its whole corpus once.
        """
        check_token_shape(ids)
        batch, seq = ids.shape
        check_fits_context(start, seq, self.config.context)
        if validate:
            check_token_ids(ids, self.config.vocab_size)
        x = self.dropout(self.tok_emb(ids) + self.pos_emb(positions_of(start, seq, ids.device)))
        for i, block in enumerate(self.blocks):
            x = block(x, start, None if caches is None else caches[i])
        return self.head(self.ln_f(x))

    def generate(self, ids, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator=None, **options):
        """Append ``max_new_tokens`` tokens to ids (batch, seq): ``babygpt.generate.generate``,
        whose ``options`` are top_p, min_p, repetition_penalty and use_cache (default True).
        ``temperature=0`` picks the most likely token; past the context, the window slides."""
        from .generate import generate  # here, not at the top: babygpt.generate imports this module

        return generate(self, ids, max_new_tokens, temperature=temperature, top_k=top_k,
                        generator=generator, **options)


def check_token_ids(ids: torch.Tensor, vocab_size: int) -> None:
    """Raise ValueError naming the first token id outside [0, vocab_size)."""
    if ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"token ids must be integers (int64), got dtype {ids.dtype}")
    bad = (ids < 0) | (ids >= vocab_size)
    if bad.any():
        raise ValueError(
            f"token id {ids[bad][0].item()} is outside the vocabulary [0, {vocab_size}): encode the text "
            f"with the tokenizer the model was built for, or build the model with a larger vocab_size"
        )


def check_token_shape(ids) -> None:
    """Raise naming the fix unless ``ids`` is a (batch, seq) tensor: a 1-D sequence is the usual slip."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(
            f"token ids must be a torch.Tensor of shape (batch, seq), got a {type(ids).__name__}: "
            f"wrap one sequence as torch.tensor([ids])"
        )
    if ids.ndim != 2:
        raise ValueError(
            f"token ids must have shape (batch, seq), got shape {tuple(ids.shape)}: give one sequence a "
            f"batch axis with ids[None]"
        )


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy (nats): logits (batch, seq, vocab), targets (batch, seq)."""
    return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1))
