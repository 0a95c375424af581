"""A GPT written from its equations in JAX: configuration, parameters, forward pass and loss.

It follows the microGPT seed (kandarpa02/microGPT): token embedding times sqrt(d_model) plus
the sinusoidal positions of Vaswani et al. (no learned positions), blocks of causal multi-head
attention and a d -> 4d -> d GELU feed-forward network, and logits ``x @ E.T`` tied to the
embedding ``E``. Three block styles exist, chosen by ``GPTConfig.block``:

- ``"pre_norm"`` (the course's default, GPT-2's): ``x = x + Attn(LN1(x)); x = x + FFN(LN2(x))``
  with a final LayerNorm and a distinct random key per block.
- ``"seed"`` (``micro_gpt_4``): one LayerNorm per block, before attention only:
  ``h = x + Attn(LN(x)); x = h + FFN(h)``; no final norm; LayerNorm ``(x - mean) / (std + eps)``;
  every block initialised from the same key.
- ``"seed_normed_residual"`` (``micro_gpt_1``, ``micro_gpt_2``): the residual carries the
  normalised stream: ``n = LN(x); h = n + Attn(n); x = h + FFN(h)``.

Parameters are a pytree of plain arrays. Its checkpoint names (``checkpoint.py`` flattens
the tree with dots) are, for block ``i``:

========================  ==============  ==============================================
name                      shape           use
========================  ==============  ==============================================
``embed``                 (vocab, d)      token embedding; also the output matrix (tied)
``blocks.i.ln1.scale``    (d,)            LayerNorm before attention (``.bias`` too)
``blocks.i.attn.w_q``     (d, d)          ``q = x @ w_q`` (also ``w_k``, ``w_v``, ``w_o``)
``blocks.i.ln2.scale``    (d,)            LayerNorm before the FFN, ``pre_norm`` only
``blocks.i.ffn.w_in``     (d, 4d)         ``GELU(x @ w_in + b_in)``; ``b_in`` is (4d,)
``blocks.i.ffn.w_out``    (4d, d)         ``h @ w_out + b_out``; ``b_out`` is (d,)
``ln_f.scale``            (d,)            final LayerNorm, when ``final_norm``
========================  ==============  ==============================================

Matrices are stored ``(in, out)``: PyTorch's ``nn.Linear.weight`` is their transpose.
"""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from lmbase.microgpt_config import GPTConfig, seed_config  # noqa: F401 (re-exported: the config lives in lmbase)

from .attention import attention_with_kv
from .layers import dropout, feed_forward, layer_norm, sinusoidal_positions, split_key


# ---- parameters -----------------------------------------------------------------------------

def _normal(key, shape, std):
    return std * jax.random.normal(key, shape, dtype=jnp.float32)


def init_layer_norm(d: int) -> dict:
    return {"scale": jnp.ones((d,), jnp.float32), "bias": jnp.zeros((d,), jnp.float32)}


def init_block(key, config: GPTConfig) -> dict:
    """One block's parameters (see the module docstring for the names)."""
    d, std = config.d_model, config.init_std
    kq, kk, kv, ko, k_in, k_out = jax.random.split(key, 6)
    block = {
        "ln1": init_layer_norm(d),
        "attn": {name: _normal(k, (d, d), std) for name, k in zip(("w_q", "w_k", "w_v", "w_o"), (kq, kk, kv, ko))},
        "ffn": {
            "w_in": _normal(k_in, (d, 4 * d), std), "b_in": jnp.zeros((4 * d,), jnp.float32),
            "w_out": _normal(k_out, (4 * d, d), std), "b_out": jnp.zeros((d,), jnp.float32),
        },
    }
    if config.block == "pre_norm":
        block["ln2"] = init_layer_norm(d)
    return block


def init_params(config: GPTConfig, seed: int = 0) -> dict:
    """Parameters for ``config`` from ``seed``: the same seed gives the same numbers.

    With ``shared_block_init`` (the seed's behaviour) every block is drawn from the same key,
    so all blocks start identical; otherwise each block gets its own key.
    """
    embed_key, blocks_key = jax.random.split(jax.random.key(seed))
    block_keys = jax.random.split(blocks_key, config.n_layer)
    if config.shared_block_init:
        block_keys = [block_keys[0]] * config.n_layer
    params = {
        "embed": _normal(embed_key, (config.vocab_size, config.d_model), config.init_std),
        "blocks": [init_block(k, config) for k in block_keys],
    }
    if config.final_norm:
        params["ln_f"] = init_layer_norm(config.d_model)
    return params


def count_params(params) -> int:
    """The number of scalars in a parameter tree."""
    return int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(params)))


def count_params_formula(config: GPTConfig) -> int:
    """The closed form: ``V d + L (4 d^2 + 8 d^2 + 5 d + 2 d * n_norms) + 2 d [final norm]``."""
    d = config.d_model
    norms_per_block = 2 if config.block == "pre_norm" else 1
    per_block = 4 * d * d + 8 * d * d + 5 * d + 2 * d * norms_per_block
    return config.vocab_size * d + config.n_layer * per_block + (2 * d if config.final_norm else 0)


# ---- forward --------------------------------------------------------------------------------

def check_tokens(tokens, config: GPTConfig) -> None:
    """Raise ValueError for a sequence longer than the context or ids outside the vocabulary.

    Shapes are checked always (also while tracing); ids only when they are concrete values,
    because inside ``jit`` JAX would silently clamp an out-of-range index.
    """
    if tokens.ndim != 2:
        raise ValueError(f"tokens must have shape (batch, seq), got {tokens.shape}: add a batch axis with tokens[None]")
    if tokens.shape[1] > config.context:
        raise ValueError(
            f"sequence length {tokens.shape[1]} exceeds the context of {config.context}: "
            f"crop to the last {config.context} tokens, or use a config with a longer context"
        )
    if not isinstance(tokens, jax.core.Tracer):
        low, high = int(np.min(tokens)), int(np.max(tokens))
        if low < 0 or high >= config.vocab_size:
            bad = low if low < 0 else high
            raise ValueError(
                f"token id {bad} is outside the vocabulary [0, {config.vocab_size}): encode the "
                f"text with the tokenizer this model was built for, or raise vocab_size"
            )


def embed(params: dict, tokens, config: GPTConfig, start=0):
    """``E[tokens] * sqrt(d) + positions``: ``(batch, seq)`` ids -> ``(batch, seq, d)``."""
    table = params["embed"]
    x = table[tokens] * math.sqrt(config.d_model)
    return x + sinusoidal_positions(tokens.shape[1], config.d_model, start).astype(x.dtype)


def unembed(params: dict, x, config: GPTConfig):
    """Final LayerNorm (if any), then logits ``x @ E.T``: ``(batch, seq, d)`` -> ``(batch, seq, vocab)``."""
    if config.final_norm:
        x = layer_norm(x, params["ln_f"], config.ln_eps, config.ln_eps_inside_sqrt)
    return x @ params["embed"].T.astype(x.dtype)


def pre_norm_block(p, x, config, attention, key):
    """GPT-2: ``x = x + Attn(LN1(x)); x = x + FFN(LN2(x))``. Returns ``(x, attention aux)``."""
    k_attn, k_a, k_f = split_key(key, 3)
    norm = lambda y, q: layer_norm(y, q, config.ln_eps, config.ln_eps_inside_sqrt)
    a, aux = attention(p["attn"], norm(x, p["ln1"]), k_attn)
    x = x + dropout(a, config.dropout, k_a)
    x = x + dropout(feed_forward(p["ffn"], norm(x, p["ln2"])), config.dropout, k_f)
    return x, aux


def seed_block(p, x, config, attention, key):
    """micro_gpt_4: ``h = x + Attn(LN(x)); x = h + FFN(h)``: the FFN reads the raw residual."""
    k_attn, k_a, k_f = split_key(key, 3)
    a, aux = attention(p["attn"], layer_norm(x, p["ln1"], config.ln_eps, config.ln_eps_inside_sqrt), k_attn)
    h = x + dropout(a, config.dropout, k_a)
    return h + dropout(feed_forward(p["ffn"], h), config.dropout, k_f), aux


def seed_normed_residual_block(p, x, config, attention, key):
    """micro_gpt_1/2: ``n = LN(x); h = n + Attn(n); x = h + FFN(h)``: the residual is replaced by LN(x)."""
    k_attn, k_a, k_f = split_key(key, 3)
    n = layer_norm(x, p["ln1"], config.ln_eps, config.ln_eps_inside_sqrt)
    a, aux = attention(p["attn"], n, k_attn)
    h = n + dropout(a, config.dropout, k_a)
    return h + dropout(feed_forward(p["ffn"], h), config.dropout, k_f), aux


BLOCKS = {"pre_norm": pre_norm_block, "seed": seed_block, "seed_normed_residual": seed_normed_residual_block}


def run_blocks(params: dict, x, config: GPTConfig, attention, key=None):
    """Apply every block to the stream ``x`` ``(batch, seq, d)``, in ``config.block``'s style.

    ``attention`` is called once per block as ``attention(layer, attn_params, y, attn_key)``:
    ``layer`` the block's index, ``attn_params`` its ``attn`` dictionary, ``y`` the normalised
    stream ``(batch, seq, d)`` and ``attn_key`` the attention-dropout key of that block (None
    when ``key`` is None, no dropout). It returns ``(out, aux)``, ``out`` of ``y``'s shape.
    ``key`` is split into one dropout key per block. Returns the final stream ``(batch, seq, d)``
    and the list of per-layer ``aux`` (for example the keys and values a KV cache keeps).
    """
    block_fn = BLOCKS[config.block]
    auxes = []
    for layer, (p, k) in enumerate(zip(params["blocks"], split_key(key, config.n_layer))):
        x, aux = block_fn(p, x, config, lambda ap, y, kk: attention(layer, ap, y, kk), k)
        auxes.append(aux)
    return x, auxes


def forward_with_kv(params: dict, tokens, config: GPTConfig, *, dropout_key=None):
    """Logits ``(batch, seq, vocab)`` and each layer's ``(k, v)``, each ``(batch, seq, n_head, hd)``.

    The ids are checked here, outside ``jit`` (where they are still concrete), then the
    compiled computation runs.
    """
    check_tokens(tokens, config)
    return _forward_with_kv(params, jnp.asarray(tokens), config, dropout_key)


@partial(jax.jit, static_argnames=("config",))
def _forward_with_kv(params, tokens, config, dropout_key):
    key_embed, key_blocks = split_key(dropout_key, 2)
    x = dropout(embed(params, tokens, config), config.dropout, key_embed)

    def attention(layer, attn_params, y, key):
        return attention_with_kv(attn_params, y, config.n_head, dropout_rate=config.dropout, key=key)

    x, kv = run_blocks(params, x, config, attention, key_blocks)
    return unembed(params, x, config), kv


def forward(params: dict, tokens, config: GPTConfig, *, dropout_key=None):
    """The GPT: token ids ``(batch, seq)`` -> logits ``(batch, seq, vocab)``.

    Dropout is applied only when ``dropout_key`` is given (training) and ``config.dropout > 0``.
    The compute dtype is the parameters' dtype: cast them to bfloat16 for mixed precision.
    """
    logits, _ = forward_with_kv(params, tokens, config, dropout_key=dropout_key)
    return logits


def cross_entropy(logits, targets):
    """Mean next-token cross-entropy in nats, computed in float32.

    logits ``(batch, seq, vocab)``, targets ``(batch, seq)`` ints.
    """
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.take_along_axis(log_probs, targets[..., None], axis=-1).mean()


def loss_fn(params: dict, tokens, targets, config: GPTConfig, *, dropout_key=None):
    """Cross-entropy of the model's predictions of ``targets`` from ``tokens``, both ``(batch, seq)``."""
    return cross_entropy(forward(params, tokens, config, dropout_key=dropout_key), targets)
