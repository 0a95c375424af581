"""Inference: the decoding strategies and the one generation engine every babygpt model uses.

Decoding strategies are pure functions on a batch of logits (batch, vocab), applied in the order
Hugging Face ``transformers`` applies its logits processors (and checked against them in the
tests): a repetition penalty (Keskar et al. 2019), temperature, top-k, top-p (nucleus, Holtzman
et al. 2020), min-p (Nguyen et al. 2024); then a draw, or the argmax at temperature 0 (greedy).

The engine, :func:`stream` (and :func:`generate`, which collects it), runs any model with
``model(ids, start, caches)`` and ``model.new_kv_caches(batch, length)``: ``GPT``, ``Llama`` and
``MicroGPT``. With the KV cache (``babygpt.kv_cache``) the prompt is read once (the prefill) and
each new token costs one position (the decode); without it every step re-reads the whole window,
the slow way the cache must agree with. Prompts of different lengths generate together, each row
at its own positions, and give the tokens each would give alone.

At the end of the context the window slides as microgpt's does: when a row's window holds
``context`` tokens it keeps its last ``context // 2`` and goes on (with the cache, a new prefill
of that row). Both paths slide the same way, so greedy generation with the cache equals greedy
generation without it at any length, and a microgpt checkpoint gives the same text in both
packages. ``python -m babygpt.generate --checkpoint DIR --prompt "..."`` prints a sample as it
is generated.
"""

import torch

from .model import check_token_ids, check_token_shape


# ---- decoding strategies: (batch, vocab) logits in, (batch, vocab) logits out -----------------

def greedy(logits: torch.Tensor) -> torch.Tensor:
    """The likeliest token of each row: (batch, vocab) -> (batch,)."""
    return logits.argmax(dim=-1)


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature``: below 1 sharpens the distribution, above 1 flattens it."""
    return logits / temperature


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's penalty on every token already in the text (``seen``, (batch, vocab) bool): a
    positive logit is divided by ``penalty``, a negative one multiplied, so both become less likely."""
    penalized = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, penalized, logits)


def top_k_filter(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """Keep the ``top_k`` largest logits of each row (ties with the k-th kept too), the rest -inf."""
    kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of likeliest tokens whose probability reaches ``top_p``: in
    descending order, a token goes when the tokens before it already add up to ``top_p``."""
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    drop_sorted = probs.cumsum(dim=-1) - probs >= top_p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def min_p_filter(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Keep the tokens at least ``min_p`` times as likely as the likeliest one."""
    probs = logits.softmax(dim=-1)
    return logits.masked_fill(probs < min_p * probs.amax(dim=-1, keepdim=True), float("-inf"))


def check_sampling(temperature: float = 1.0, top_k: int | None = None, top_p: float = 1.0, min_p: float = 0.0,
                   repetition_penalty: float = 1.0) -> None:
    """Raise ValueError, naming the value, its range and the fix, for a setting that would
    sample something else than asked."""
    if temperature < 0:
        raise ValueError(
            f"temperature={temperature} is negative, which turns the distribution upside down (the likeliest "
            f"token becomes the rarest): use 0 for greedy decoding, (0, 1) to sharpen, 1 to sample as trained"
        )
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k={top_k} keeps no token: use top_k >= 1 (1 is greedy), or None to keep every token")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p={top_p} is outside (0, 1]: it is the probability the kept tokens reach; 1 keeps all")
    if not 0 <= min_p < 1:
        raise ValueError(f"min_p={min_p} is outside [0, 1): it is a fraction of the likeliest token's probability; "
                         f"0 keeps all")
    if repetition_penalty <= 0:
        raise ValueError(f"repetition_penalty={repetition_penalty} must be above 0: 1 is no penalty, 1.2 is usual")


def next_token_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float = 1.0,
                     min_p: float = 0.0) -> torch.Tensor:
    """The distribution the next token is drawn from: (batch, vocab) logits -> probabilities;
    at temperature 0, all of it on the likeliest token."""
    if temperature == 0:
        return torch.nn.functional.one_hot(greedy(logits), logits.shape[-1]).to(logits.dtype)
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p < 1:
        logits = top_p_filter(logits, top_p)
    if min_p > 0:
        logits = min_p_filter(logits, min_p)
    return logits.softmax(dim=-1)


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, generator=None, *,
                top_p: float = 1.0, min_p: float = 0.0, seen: torch.Tensor | None = None,
                repetition_penalty: float = 1.0) -> torch.Tensor:
    """One token per row of logits (batch, vocab) -> (batch, 1): the argmax at temperature 0,
    else a draw (from ``generator``) from :func:`next_token_probs`. ``seen`` (batch, vocab)
    marks the tokens the repetition penalty applies to."""
    check_sampling(temperature, top_k, top_p, min_p, repetition_penalty)
    if seen is not None and repetition_penalty != 1:
        logits = apply_repetition_penalty(logits, seen, repetition_penalty)
    if temperature == 0:
        return greedy(logits)[:, None]
    probs = next_token_probs(logits, temperature, top_k, top_p, min_p)
    return torch.multinomial(probs, 1, generator=generator)


# ---- the engine ---------------------------------------------------------------------------------

def as_rows(prompts) -> list[torch.Tensor]:
    """Prompts as one int64 tensor (seq,) per row: from a (batch, seq) tensor or a list of sequences."""
    if isinstance(prompts, torch.Tensor):
        check_token_shape(prompts)
        rows = list(prompts)
    else:
        rows = [torch.as_tensor(p, dtype=torch.long) for p in prompts]
        if not rows or any(r.ndim != 1 for r in rows):
            raise ValueError("give the prompts as a (batch, seq) tensor or a non-empty list of 1-D token sequences")
    if min(len(r) for r in rows) == 0:
        raise ValueError("a prompt is empty: give every row at least one token (for example a newline)")
    return rows


def prefill(model, window: torch.Tensor, lengths: torch.Tensor, caches: list) -> None:
    """Cache every row's positions before its last token, ``0 .. lengths - 2``: that last token is
    the first one each decode step reads. Positions past a row's end get padding that its own
    decode steps overwrite before reading."""
    longest = int(lengths.max())
    if longest > 1:
        model(window[:, :longest - 1], caches=caches, validate=False)


def slide(window: torch.Tensor, lengths: torch.Tensor, context: int) -> list[int]:
    """Rows whose window is full (``context`` tokens) keep their last ``context // 2``, in place.
    Returns those rows."""
    keep = max(1, context // 2)
    full = (lengths == context).nonzero().flatten().tolist()
    for row in full:
        window[row, :keep] = window[row, context - keep:context].clone()
        lengths[row] = keep
    return full


def cache_length(model, lengths: torch.Tensor, max_new_tokens: int) -> int:
    """The positions a generation feeds the model: up to the longest prompt plus the new tokens
    but the last (which is never read), at most the context (the window slides there)."""
    return min(model.config.context, int(lengths.max()) + max_new_tokens - 1)


def check_caches(caches: list, batch: int, needed: int) -> None:
    if caches[0].keys.shape[0] != batch or caches[0].length < needed:
        raise ValueError(
            f"the KV cache holds {caches[0].keys.shape[0]} rows of {caches[0].length} positions, but this "
            f"generation needs {batch} rows of {needed}: allocate it with model.new_kv_caches({batch}, {needed}), "
            f"or leave caches=None"
        )


@torch.no_grad()
def stream(model, prompts, max_new_tokens: int, *, temperature: float = 1.0, top_k: int | None = None,
           top_p: float = 1.0, min_p: float = 0.0, repetition_penalty: float = 1.0, generator=None,
           use_cache: bool = True, caches: list | None = None):
    """Yield the next token of every prompt, a (batch,) int64 tensor, ``max_new_tokens`` times.

    ``prompts``: a (batch, seq) tensor, or a list of token sequences of different lengths. With
    ``use_cache`` a prompt must fit the context; ``caches`` (from ``model.new_kv_caches``) may be
    given preallocated. Without the cache a longer prompt is cropped to its last ``context``
    tokens. The sampling settings are those of :func:`sample_next`; the repetition penalty counts
    every token of the (cropped) prompt and of the continuation.
    """
    check_sampling(temperature, top_k, top_p, min_p, repetition_penalty)
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens} is negative: ask for 0 or more new tokens")
    rows = as_rows(prompts)
    context, device = model.config.context, next(model.parameters()).device
    longest = max(len(r) for r in rows)
    if use_cache and longest > context:
        raise ValueError(
            f"a prompt of {longest} tokens does not fit the KV cache of this model's context, {context} "
            f"positions: crop it to its last {context} tokens, or pass use_cache=False (which crops it)"
        )
    batch, every_row = len(rows), torch.arange(len(rows), device=device)
    window = torch.zeros(batch, context, dtype=torch.long, device=device)
    lengths = torch.tensor([min(len(r), context) for r in rows], device=device)
    for i, r in enumerate(rows):
        window[i, :lengths[i]] = r[-context:]
    check_token_ids(window, model.config.vocab_size)
    seen = torch.zeros(batch, model.config.vocab_size, dtype=torch.bool, device=device)
    for i in range(batch):
        seen[i, window[i, :lengths[i]]] = True
    if use_cache and max_new_tokens > 0:
        needed = cache_length(model, lengths, max_new_tokens)
        caches = model.new_kv_caches(batch, needed) if caches is None else caches
        check_caches(caches, batch, needed)
    for step in range(max_new_tokens):
        slid = slide(window, lengths, context)
        if use_cache:
            if step == 0:
                prefill(model, window, lengths, caches)
            for row in slid:  # a new prefill of that row alone, into its own rows of the caches
                prefill(model, window[row:row + 1], lengths[row:row + 1], [c.row(row) for c in caches])
            last = window[every_row, lengths - 1]
            logits = model(last[:, None], start=lengths - 1, caches=caches, validate=False)[:, 0]
        else:
            logits = model(window[:, :int(lengths.max())], validate=False)[every_row, lengths - 1]
        token = sample_next(logits, temperature, top_k, generator, top_p=top_p, min_p=min_p, seen=seen,
                            repetition_penalty=repetition_penalty)[:, 0]
        window[every_row, lengths] = token
        lengths += 1
        seen[every_row, token] = True
        yield token


def generate(model, prompts, max_new_tokens: int, **settings):
    """Every prompt followed by ``max_new_tokens`` generated tokens: a (batch, seq +
    max_new_tokens) tensor for a (batch, seq) tensor, a list of 1-D tensors for a list of
    prompts. ``settings`` are those of :func:`stream`."""
    new = list(stream(model, prompts, max_new_tokens, **settings))
    rows = as_rows(prompts)
    tokens = torch.stack(new, dim=1) if new else torch.zeros(len(rows), 0, dtype=torch.long)
    if isinstance(prompts, torch.Tensor):
        return torch.cat([prompts, tokens.to(prompts.device)], dim=1)
    return [torch.cat([r, t.to(r.device)]) for r, t in zip(rows, tokens)]


# ---- the command line -----------------------------------------------------------------------------

def main(argv=None):
    """Sample from a checkpoint (babygpt's or microgpt's), printing the text as it is generated."""
    from lmbase.sampler_cli import checkpoint_tokenizer, sampler_parser

    from .checkpoint import load_model

    parser = sampler_parser("python -m babygpt.generate", main.__doc__)
    args = parser.parse_args(argv)
    model, config_json = load_model(args.checkpoint)
    tokenizer = checkpoint_tokenizer(parser, args.checkpoint, config_json)
    prompt = torch.from_numpy(tokenizer.encode(args.prompt))[None]
    print(args.prompt, end="", flush=True)
    tokens = stream(model.eval(), prompt, args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                    top_p=args.top_p, min_p=args.min_p, repetition_penalty=args.repetition_penalty,
                    generator=torch.Generator().manual_seed(args.seed), use_cache=not args.no_cache)
    for token in tokens:
        print(tokenizer.decode(token.tolist()), end="", flush=True)
    print()


if __name__ == "__main__":
    main()
