"""Inference, jitted: decoding strategies and one generation engine with or without a KV cache,
the seed's promised inference module (``babygpt.generate`` is its PyTorch mirror).

Decoding strategies are pure functions on a batch of logits ``(batch, vocab)``, applied in the
order ``transformers`` applies its logits processors: a repetition penalty, temperature, top-k,
top-p (nucleus), min-p; then a draw, or the argmax at temperature 0. Their settings may be
traced values, so one compiled generator serves every setting (and nothing here can raise:
:func:`check_sampling` refuses bad settings before).

With ``use_cache=True`` the prompt is run once (the prefill) and its keys and values are kept;
each new token then costs one position's work instead of a whole forward pass. Both paths work
on a fixed ``(batch, context)`` buffer, so a prompt of any length compiles once. Prompts of
different lengths generate together, each row at its own positions, and give the tokens each
gives alone.

When a row's window reaches the context it keeps its last ``context // 2`` tokens and goes on
from there (with the cache, a new prefill). Both paths do exactly this, so they give the same
tokens for any length, and greedy generation with the cache equals greedy generation without it.
:func:`stream` yields the tokens as they are produced; :func:`generate` collects them, running
as many steps per compiled call as the window allows. ``python -m microgpt.generate
--checkpoint DIR --prompt "..."`` prints a sample as it is generated.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .attention import cached_attention
from .model import GPTConfig, check_tokens, embed, forward, forward_with_kv, run_blocks, unembed


# ---- decoding strategies: (batch, vocab) logits in, (batch, vocab) logits out -----------------

def apply_repetition_penalty(logits, seen, penalty):
    """CTRL's penalty on every token already in the text (``seen``, ``(batch, vocab)`` bool): a
    positive logit is divided by ``penalty``, a negative one multiplied, so both become less likely."""
    return jnp.where(seen, jnp.where(logits < 0, logits * penalty, logits / penalty), logits)


def top_k_filter(logits, top_k):
    """Keep the ``top_k`` largest logits of each row (ties with the k-th kept too), the rest -inf."""
    vocab = logits.shape[-1]
    kth_index = jnp.full((logits.shape[0], 1), vocab - jnp.minimum(top_k, vocab))  # ascending: k-th largest
    kth_largest = jnp.take_along_axis(jnp.sort(logits, axis=-1), kth_index, axis=-1)
    return jnp.where(logits < kth_largest, -jnp.inf, logits)


def top_p_filter(logits, top_p):
    """Keep the smallest set of likeliest tokens whose probability reaches ``top_p``: in
    descending order, a token goes when the tokens before it already add up to ``top_p``
    (``top_p = 1`` keeps every token)."""
    order = jnp.argsort(-logits, axis=-1)
    sorted_probs = jnp.take_along_axis(jax.nn.softmax(logits, axis=-1), order, axis=-1)
    drop_sorted = (jnp.cumsum(sorted_probs, axis=-1) - sorted_probs >= top_p) & (top_p < 1)
    drop = jnp.zeros_like(drop_sorted).at[jnp.arange(logits.shape[0])[:, None], order].set(drop_sorted)
    return jnp.where(drop, -jnp.inf, logits)


def min_p_filter(logits, min_p):
    """Keep the tokens at least ``min_p`` times as likely as the likeliest one."""
    probs = jax.nn.softmax(logits, axis=-1)
    return jnp.where(probs < min_p * probs.max(axis=-1, keepdims=True), -jnp.inf, logits)


def process_logits(logits, temperature=1.0, top_k=None, top_p=1.0, min_p=0.0):
    """Temperature, then the filters: the logits of the distribution the next token is drawn from."""
    scaled = logits.astype(jnp.float32) / jnp.maximum(temperature, 1e-6)
    if top_k is not None:
        scaled = top_k_filter(scaled, top_k)
    return min_p_filter(top_p_filter(scaled, top_p), min_p)


def next_token_probs(logits, temperature=1.0, top_k=None, top_p=1.0, min_p=0.0):
    """The distribution of the next token: ``(batch, vocab)`` probabilities; at temperature 0,
    all of it on the likeliest token."""
    greedy = jax.nn.one_hot(jnp.argmax(logits, axis=-1), logits.shape[-1])
    probs = jax.nn.softmax(process_logits(logits, temperature, top_k, top_p, min_p), axis=-1)
    return jnp.where(temperature > 0, probs, greedy)


def sample_next_token(logits, key, temperature=1.0, top_k=None, top_p=1.0, min_p=0.0, seen=None,
                      repetition_penalty=1.0):
    """One token per row from logits ``(batch, vocab)`` -> ids ``(batch,)``.

    ``temperature == 0`` picks the argmax. ``top_k`` keeps the k largest logits (None keeps all);
    ``top_p`` keeps the smallest set of tokens whose probability adds up to at least ``top_p``;
    ``min_p`` the tokens at least ``min_p`` times as likely as the likeliest; ``seen``
    ``(batch, vocab)`` marks the tokens ``repetition_penalty`` applies to.
    """
    logits = logits.astype(jnp.float32)
    if seen is not None:
        logits = apply_repetition_penalty(logits, seen, repetition_penalty)
    sampled = jax.random.categorical(key, process_logits(logits, temperature, top_k, top_p, min_p), axis=-1)
    return jnp.where(temperature > 0, sampled, jnp.argmax(logits, axis=-1))


def check_sampling(vocab_size: int, temperature=1.0, top_k=None, top_p=1.0, min_p=0.0, repetition_penalty=1.0):
    """Raise ValueError, naming the value, its range and the fix, for a setting that would
    sample something else than asked."""
    if temperature < 0:
        raise ValueError(
            f"temperature={temperature} is negative, which is no distribution to sample (the likeliest token "
            f"would become the rarest): use 0 for greedy decoding, (0, 1) to sharpen, 1 to sample as trained"
        )
    if top_k is not None and not 1 <= top_k <= vocab_size:
        raise ValueError(f"top_k={top_k} must be between 1 and vocab_size={vocab_size}: 1 is greedy, None keeps all")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p={top_p} is outside (0, 1]: it is the probability the kept tokens reach; 1 keeps all")
    if not 0 <= min_p < 1:
        raise ValueError(f"min_p={min_p} is outside [0, 1): it is a fraction of the likeliest token's probability; "
                         f"0 keeps all")
    if repetition_penalty <= 0:
        raise ValueError(f"repetition_penalty={repetition_penalty} must be above 0: 1 is no penalty, 1.2 is usual")


# ---- the model with a cache ---------------------------------------------------------------------

def prefill(params: dict, buffer, config: GPTConfig):
    """Every layer's keys and values over the whole buffer ``(batch, context)``: the cache, float32.

    A row's positions past its end hold padding; its own decode steps overwrite them before
    reading them, and causality keeps them out of the positions before.
    """
    _, kv = forward_with_kv(params, buffer, config)
    return [(k.astype(jnp.float32), v.astype(jnp.float32)) for k, v in kv]


def forward_cached(params: dict, tokens, starts, cache: list, config: GPTConfig):
    """Logits ``(batch, seq, vocab)`` for tokens ``(batch, seq)`` at positions ``starts ..``
    (``(batch,)``, one start per row) over the cached positions before, and the new cache."""
    x = jax.vmap(lambda row, start: embed(params, row[None], config, start=start)[0])(tokens, starts)

    def attention(layer, attn_params, y, key):
        return cached_attention(attn_params, y, config.n_head, cache[layer], starts)

    x, new_cache = run_blocks(params, x, config, attention)
    return unembed(params, x, config), new_cache


@partial(jax.jit, static_argnames=("config",))
def refill(params, buffer, cache, rows, *, config: GPTConfig):
    """The cache with a new prefill of the ``rows`` (``(batch,)`` bool) whose window slid."""
    fresh = prefill(params, buffer, config)
    keep = lambda new, old: jnp.where(rows[:, None, None, None], new, old)
    return [(keep(k, k_old), keep(v, v_old)) for (k, v), (k_old, v_old) in zip(fresh, cache)]


@partial(jax.jit, static_argnames=("config", "use_cache"))
def generate_chunk(params, buffer, lengths, cache, seen, n_steps, first_step, key, settings, *,
                   config: GPTConfig, use_cache: bool):
    """Append ``n_steps`` tokens to every row's window ``buffer[r, :lengths[r]]``; needs
    ``lengths + n_steps <= context``.

    buffer: ``(batch, context)`` ids; with the cache, ``cache`` holds each row's positions before
    its last token, which each step reads first. ``n_steps`` is traced, so one compilation serves
    every length; step ``s`` draws with ``fold_in(key, s)``, so the tokens do not depend on how
    the steps are split into calls. Returns the buffer, the cache and ``seen``, updated.
    """
    rows = jnp.arange(buffer.shape[0])

    def step(i, carry):
        buffer, lengths, cache, seen = carry
        if use_cache:
            logits, cache = forward_cached(params, buffer[rows, lengths - 1][:, None], lengths - 1, cache, config)
            logits = logits[:, 0]
        else:
            logits = forward(params, buffer, config)[rows, lengths - 1]
        token = sample_next_token(logits, jax.random.fold_in(key, first_step + i), seen=seen, **settings)
        return buffer.at[rows, lengths].set(token), lengths + 1, cache, seen.at[rows, token].set(True)

    buffer, _, cache, seen = jax.lax.fori_loop(0, n_steps, step, (buffer, lengths, cache, seen))
    return buffer, cache, seen


# ---- the engine ---------------------------------------------------------------------------------

def as_rows(prompts) -> list[np.ndarray]:
    """Prompts as one 1-D array of ids per row: from ``(seq,)``, ``(batch, seq)`` or a list of
    sequences of different lengths."""
    if isinstance(prompts, (list, tuple)) and len(prompts) and not np.isscalar(prompts[0]):
        rows = [np.asarray(p).reshape(-1) for p in prompts]
    else:
        rows = list(np.atleast_2d(np.asarray(prompts)))
    if not rows or min(len(r) for r in rows) == 0:
        raise ValueError("the prompt is empty: give every row at least one token (for example a newline)")
    return rows


def stream_chunks(params: dict, prompts, config: GPTConfig, max_new_tokens: int, *, key=None,
                  temperature: float = 1.0, top_k: int | None = None, top_p: float = 1.0, min_p: float = 0.0,
                  repetition_penalty: float = 1.0, use_cache: bool = True, max_chunk: int | None = None):
    """Yield the new tokens of every row, ``(batch, n)`` numpy arrays of at most ``max_chunk``
    steps, ``max_new_tokens`` in all. The arguments are those of :func:`generate`."""
    check_sampling(config.vocab_size, temperature, top_k, top_p, min_p, repetition_penalty)
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens} is negative: ask for 0 or more new tokens")
    rows, context = as_rows(prompts), config.context
    longest = max(len(r) for r in rows)
    if use_cache and longest > context:
        raise ValueError(
            f"a prompt of {longest} tokens does not fit the KV cache of this model's context, {context} "
            f"positions: crop it to its last {context} tokens, or pass use_cache=False (which crops it)"
        )
    lengths = np.array([min(len(r), context) for r in rows])
    buffer = np.zeros((len(rows), context), dtype=np.int32)
    seen = np.zeros((len(rows), config.vocab_size), dtype=bool)
    for i, r in enumerate(rows):
        buffer[i, :lengths[i]] = r[-context:]
    check_tokens(buffer, config)
    for i in range(len(rows)):
        seen[i, buffer[i, :lengths[i]]] = True
    settings = {"temperature": jnp.float32(temperature), "top_k": jnp.int32(top_k or config.vocab_size),
                "top_p": jnp.float32(top_p), "min_p": jnp.float32(min_p),
                "repetition_penalty": jnp.float32(repetition_penalty)}
    key = jax.random.key(0) if key is None else key
    buffer, seen = jnp.asarray(buffer), jnp.asarray(seen)
    cache = prefill(params, buffer, config) if use_cache and max_new_tokens else None
    keep, done = max(1, context // 2), 0
    while done < max_new_tokens:
        full = lengths == context
        if full.any():  # those rows keep their last context // 2 tokens
            slid = np.array(buffer)
            slid[full, :keep] = slid[full, context - keep:]
            buffer, lengths = jnp.asarray(slid), np.where(full, keep, lengths)
            if use_cache:
                cache = refill(params, buffer, cache, jnp.asarray(full), config=config)
        n = int(min(max_new_tokens - done, context - lengths.max(), max_chunk or context))
        buffer, cache, seen = generate_chunk(params, buffer, jnp.asarray(lengths, jnp.int32), cache, seen, n, done,
                                             key, settings, config=config, use_cache=use_cache)
        new = np.take_along_axis(np.asarray(buffer), lengths[:, None] + np.arange(n), axis=1)
        lengths, done = lengths + n, done + n
        yield new


def stream(params: dict, prompts, config: GPTConfig, max_new_tokens: int, **settings):
    """Yield the next token of every row, a ``(batch,)`` numpy array, as soon as it is produced.
    The arguments are those of :func:`generate`; the tokens are the ones it gives."""
    for chunk in stream_chunks(params, prompts, config, max_new_tokens, max_chunk=1, **settings):
        yield chunk[:, 0]


def generate(params: dict, prompt, config: GPTConfig, max_new_tokens: int, **settings):
    """Continue ``prompt`` by ``max_new_tokens`` tokens: ``(batch, seq)`` (or ``(seq,)``) ids, or a
    list of sequences of different lengths.

    Returns the prompt and its continuation: a numpy array ``(batch, seq + max_new_tokens)``, or
    a list of 1-D arrays for prompts of different lengths. ``settings``: ``key`` (default
    ``jax.random.key(0)``) makes sampling reproducible; ``temperature``, ``top_k``, ``top_p``,
    ``min_p`` and ``repetition_penalty`` as in :func:`sample_next_token`; ``use_cache``.
    """
    rows = as_rows(prompt)
    chunks = list(stream_chunks(params, prompt, config, max_new_tokens, **settings))
    new = np.concatenate(chunks, axis=1) if chunks else np.zeros((len(rows), 0), dtype=np.int32)
    out = [np.concatenate([r, n]) for r, n in zip(rows, new)]
    return np.stack(out) if len({len(r) for r in rows}) == 1 else out


# ---- the command line -----------------------------------------------------------------------------

def main(argv=None):
    """Sample from a microgpt checkpoint, printing the text as it is generated."""
    from lmbase.sampler_cli import checkpoint_tokenizer, sampler_parser

    from .checkpoint import load

    parser = sampler_parser("python -m microgpt.generate", main.__doc__)
    args = parser.parse_args(argv)
    params, config, data = load(args.checkpoint)
    tokenizer = checkpoint_tokenizer(parser, args.checkpoint, data)
    print(args.prompt, end="", flush=True)
    tokens = stream(params, tokenizer.encode(args.prompt), config, args.max_new_tokens, key=jax.random.key(args.seed),
                    temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
                    repetition_penalty=args.repetition_penalty, use_cache=not args.no_cache)
    for token in tokens:
        print(tokenizer.decode(token), end="", flush=True)
    print()


if __name__ == "__main__":
    main()
