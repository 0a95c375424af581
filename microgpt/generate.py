"""Autoregressive generation, jitted, with or without a KV cache: the seed's promised inference module.

Sampling: temperature (0 means greedy), top-k and top-p (nucleus). With ``use_cache=True`` the
prompt is run once (the prefill) and its keys and values are kept; each new token then costs one
position's work instead of a whole forward pass. Both paths work on a fixed ``(batch, context)``
buffer, so a prompt of any length compiles once.

When the text reaches the context, generation keeps the last ``context // 2`` tokens and goes on
from there (a new prefill). Both paths do exactly this, so they give the same tokens for any
length, and greedy generation with the cache equals greedy generation without it.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .attention import cached_attention
from .model import GPTConfig, check_tokens, embed, forward, forward_with_kv, run_blocks, unembed


def sample_next_token(logits, key, temperature=1.0, top_k=None, top_p=1.0):
    """One token per row from logits ``(batch, vocab)`` -> ids ``(batch,)``.

    ``temperature == 0`` picks the argmax. ``top_k`` keeps the k largest logits (None keeps all);
    ``top_p`` keeps the smallest set of tokens whose probability adds up to at least ``top_p``.
    All three may be traced values, so one compiled generator serves every setting, and so
    nothing here can raise: :func:`generate` checks them (a negative temperature is refused there).
    """
    logits = logits.astype(jnp.float32)
    greedy = jnp.argmax(logits, axis=-1)
    scaled = logits / jnp.maximum(temperature, 1e-6)
    if top_k is not None:
        kth_index = jnp.full((scaled.shape[0], 1), scaled.shape[-1] - top_k)  # ascending sort: k-th largest
        kth_largest = jnp.take_along_axis(jnp.sort(scaled, axis=-1), kth_index, axis=-1)
        scaled = jnp.where(scaled < kth_largest, -jnp.inf, scaled)
    # nucleus: sort descending, drop a token when the tokens before it already reach top_p
    order = jnp.argsort(-scaled, axis=-1)
    sorted_probs = jnp.take_along_axis(jax.nn.softmax(scaled, axis=-1), order, axis=-1)
    before = jnp.cumsum(sorted_probs, axis=-1) - sorted_probs
    drop_sorted = before >= top_p
    drop = jnp.zeros_like(drop_sorted).at[jnp.arange(scaled.shape[0])[:, None], order].set(drop_sorted)
    scaled = jnp.where(drop, -jnp.inf, scaled)
    sampled = jax.random.categorical(key, scaled, axis=-1)
    return jnp.where(temperature > 0, sampled, greedy)


def decode_step(params: dict, token, position, cache: list, config: GPTConfig):
    """Logits ``(batch, vocab)`` for one new token ``(batch,)`` at ``position``, and the new cache."""
    x = embed(params, token[:, None], config, start=position)

    def attention(layer, attn_params, y, key):
        return cached_attention(attn_params, y, config.n_head, cache[layer], position)

    x, new_cache = run_blocks(params, x, config, attention)
    return unembed(params, x, config)[:, 0], new_cache


def prefill(params: dict, buffer, length, config: GPTConfig):
    """Run the whole buffer once: logits at position ``length - 1`` and every layer's ``(k, v)``.

    Positions ``>= length`` hold padding; causality keeps them out of the positions before.
    """
    logits, kv = forward_with_kv(params, buffer, config)
    last = jax.lax.dynamic_index_in_dim(logits, length - 1, axis=1, keepdims=False)
    return last, [(k.astype(jnp.float32), v.astype(jnp.float32)) for k, v in kv]


@partial(jax.jit, static_argnames=("config", "use_cache"))
def generate_window(params, buffer, length, n_steps, key, temperature, top_k, top_p, *, config: GPTConfig,
                    use_cache: bool):
    """Append ``n_steps`` tokens to ``buffer[:, :length]``; needs ``length + n_steps <= context``.

    buffer: ``(batch, context)`` ids. ``length`` and ``n_steps`` are traced, so one compilation
    serves every prompt length. Returns the buffer with positions ``length .. length + n_steps - 1``
    filled.
    """
    keys = jax.random.split(key, config.context)
    rows = jnp.arange(buffer.shape[0])

    if use_cache:
        logits, cache = prefill(params, buffer, length, config)

        def step(i, carry):
            buffer, logits, cache = carry
            token = sample_next_token(logits, keys[i], temperature, top_k, top_p)
            buffer = buffer.at[rows, length + i].set(token)
            logits, cache = decode_step(params, token, length + i, cache, config)
            return buffer, logits, cache

        buffer, _, _ = jax.lax.fori_loop(0, n_steps, step, (buffer, logits, cache))
        return buffer

    def step(i, buffer):
        all_logits = forward(params, buffer, config)
        logits = jax.lax.dynamic_index_in_dim(all_logits, length + i - 1, axis=1, keepdims=False)
        token = sample_next_token(logits, keys[i], temperature, top_k, top_p)
        return buffer.at[rows, length + i].set(token)

    return jax.lax.fori_loop(0, n_steps, step, buffer)


def generate(params: dict, prompt, config: GPTConfig, max_new_tokens: int, *, key=None,
             temperature: float = 1.0, top_k: int | None = None, top_p: float = 1.0,
             use_cache: bool = True) -> np.ndarray:
    """Continue ``prompt`` ``(batch, seq)`` (or ``(seq,)``) by ``max_new_tokens`` tokens.

    Returns the prompt and its continuation as a numpy array ``(batch, seq + max_new_tokens)``.
    ``key`` (default ``jax.random.key(0)``) makes sampling reproducible.
    """
    tokens = np.asarray(prompt)
    if tokens.ndim == 1:
        tokens = tokens[None]
    if tokens.shape[1] == 0:
        raise ValueError("the prompt is empty: give at least one token (for example a newline)")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens} is negative: ask for 0 or more new tokens")
    if temperature < 0:
        raise ValueError(
            f"temperature={temperature} is negative, which is no distribution to sample (the likeliest token "
            f"would become the rarest): use 0 for greedy decoding, (0, 1) to sharpen, 1 to sample as trained"
        )
    if top_k is not None and not 1 <= top_k <= config.vocab_size:
        raise ValueError(f"top_k={top_k} must be between 1 and vocab_size={config.vocab_size}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p={top_p} must be in (0, 1]; 1.0 turns nucleus sampling off")
    if tokens.shape[1] > config.context:
        tokens = tokens[:, -config.context:]  # only the last context tokens can be seen
    check_tokens(tokens, config)
    key = jax.random.key(0) if key is None else key
    out = [np.asarray(prompt).reshape(tokens.shape[0], -1)]
    window = tokens
    remaining = max_new_tokens
    while remaining > 0:
        if window.shape[1] >= config.context:
            window = window[:, -(config.context // 2):]
        length = window.shape[1]
        n_steps = min(remaining, config.context - length)
        buffer = np.zeros((window.shape[0], config.context), dtype=np.int32)
        buffer[:, :length] = window
        key, sub = jax.random.split(key)
        filled = np.asarray(generate_window(
            params, jnp.asarray(buffer), length, n_steps, sub, temperature,
            config.vocab_size if top_k is None else top_k, top_p, config=config, use_cache=use_cache))
        new = filled[:, length:length + n_steps]
        out.append(new)
        window = filled[:, :length + n_steps]
        remaining -= n_steps
    return np.concatenate(out, axis=1)
