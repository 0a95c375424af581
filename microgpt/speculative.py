"""Speculative decoding (Leviathan et al. 2023; Chen et al. 2023) in JAX: a small draft model
proposes ``k`` tokens, the large target model checks them all in one forward pass, and an
accept/reject rule keeps exactly the target's distribution (``babygpt.speculative`` is the
PyTorch mirror, whose docstring derives the rule).

Draft token ``d``, drawn from the draft's distribution ``q``, is accepted with probability
``min(1, p(d) / q(d))``, ``p`` the target's; at the first rejection the token is drawn from the
residual ``max(0, p - q)`` instead, and when all ``k`` are accepted the target's distribution
after them gives one token more. At temperature 0 the output is the target's greedy text.

One sequence at a time, within the context; the forward passes are jitted (one compilation per
block length), the loop over rounds runs in Python.
"""

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .generate import as_rows, check_sampling, forward_cached, next_token_probs
from .model import GPTConfig, check_tokens


def verify(p, q, drafted, key):
    """The accept/reject rule, for a batch of independent proposals.

    p: ``(batch, k + 1, vocab)``, the target's distributions at the k drafted positions and the
    one after; q: ``(batch, k, vocab)``, the draft's; drafted: ``(batch, k)``, drawn from q.
    Returns ``(n_accepted (batch,), next_token (batch,))``: the proposals kept are
    ``drafted[:, :n_accepted]``, followed by ``next_token``.
    """
    batch, k = drafted.shape
    p_drafted = jnp.take_along_axis(p[:, :k], drafted[..., None], axis=-1)[..., 0]
    q_drafted = jnp.take_along_axis(q, drafted[..., None], axis=-1)[..., 0]
    key_accept, key_next = jax.random.split(key)
    accept = jax.random.uniform(key_accept, (batch, k)) < p_drafted / q_drafted
    n_accepted = jnp.cumprod(accept.astype(jnp.int32), axis=-1).sum(axis=-1)  # before the first rejection
    # q is zero after the k-th proposal, so that when all are accepted the residual is p itself
    q_padded = jnp.concatenate([q, jnp.zeros_like(p[:, :1])], axis=1)
    rows = jnp.arange(batch)
    residual = jnp.maximum(p[rows, n_accepted] - q_padded[rows, n_accepted], 0.0)
    return n_accepted, jax.random.categorical(key_next, jnp.log(residual), axis=-1)


@dataclass
class Speculation:
    """What :func:`speculative_generate` produced: the tokens ``(1, seq + new)`` and how many of
    the draft's proposals the target accepted."""

    ids: np.ndarray
    proposed: int
    accepted: int

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / max(1, self.proposed)


def check_draft(target: GPTConfig, draft: GPTConfig, length: int) -> None:
    """Raise ValueError, naming the fix, unless the draft speaks the target's vocabulary and both
    contexts hold ``length`` tokens."""
    if draft.vocab_size != target.vocab_size:
        raise ValueError(
            f"the draft model's vocabulary has {draft.vocab_size} tokens and the target's {target.vocab_size}: "
            f"the draft must propose token ids the target reads, so train it with the target's tokenizer"
        )
    context = min(target.context, draft.context)
    if length > context:
        raise ValueError(
            f"the prompt and the new tokens make {length} tokens, past the context of {context} that "
            f"speculative decoding works within: ask for at most {context} in all, or use microgpt.generate, "
            f"whose window slides"
        )


cached_step = partial(jax.jit, static_argnames=("config",))(forward_cached)


@partial(jax.jit, static_argnames=("config",))
def propose(params: dict, token, start, cache: list, key, settings: dict, *, config: GPTConfig):
    """The draft's step: its distribution after ``token`` ``(1, 1)`` at position ``start``
    ``(1,)``, a token drawn from it, and the new cache."""
    logits, cache = forward_cached(params, token, start, cache, config)
    q = next_token_probs(logits[:, -1], **settings)[0]
    return q, jax.random.categorical(key, jnp.log(q)), cache


@partial(jax.jit, static_argnames=("config",))
def check(params: dict, block, start, cache: list, q, drafted, key, settings: dict, *, config: GPTConfig):
    """The target's pass over ``block`` ``(1, k + 1)``, the last token and the k proposals, and
    the rule: ``(n_accepted, next_token, new cache)``."""
    logits, cache = forward_cached(params, block, start, cache, config)
    p = next_token_probs(logits[0], **settings)
    n_accepted, next_token = verify(p[None], q[None], drafted[None], key)
    return n_accepted[0], next_token[0], cache


def empty_cache(config: GPTConfig) -> list:
    """A KV cache of one row: every layer's keys and values, ``(1, context, n_head, hd)`` zeros."""
    shape = (1, config.context, config.n_head, config.d_model // config.n_head)
    return [(jnp.zeros(shape), jnp.zeros(shape)) for _ in range(config.n_layer)]


def speculative_generate(target_params: dict, target_config: GPTConfig, draft_params: dict, draft_config: GPTConfig,
                         prompt, max_new_tokens: int, *, k: int = 4, key=None, temperature: float = 1.0,
                         top_k: int | None = None, top_p: float = 1.0, min_p: float = 0.0) -> Speculation:
    """Continue ``prompt`` (one sequence) by ``max_new_tokens`` tokens of the target's
    distribution (its greedy text at temperature 0), the draft proposing ``k`` tokens a round."""
    check_sampling(target_config.vocab_size, temperature, top_k, top_p, min_p)
    if k < 1 or max_new_tokens < 0:
        raise ValueError(f"k={k} and max_new_tokens={max_new_tokens}: propose k >= 1 tokens a round, "
                         f"and ask for 0 or more new tokens")
    (row,) = as_rows(prompt)
    final = len(row) + max_new_tokens
    check_draft(target_config, draft_config, final)
    check_tokens(row[None], target_config)
    ids, key = row.tolist(), jax.random.key(0) if key is None else key
    settings = {"temperature": jnp.float32(temperature), "top_k": jnp.int32(top_k or target_config.vocab_size),
                "top_p": jnp.float32(top_p), "min_p": jnp.float32(min_p)}
    target_cache, draft_cache = empty_cache(target_config), empty_cache(draft_config)
    if len(ids) > 1:  # both models cache the prompt but its last token, which each round reads first
        before = jnp.asarray([ids[:-1]])
        _, target_cache = cached_step(target_params, before, jnp.zeros(1, int), target_cache, config=target_config)
        _, draft_cache = cached_step(draft_params, before, jnp.zeros(1, int), draft_cache, config=draft_config)
    proposed = accepted = rounds = 0
    while len(ids) < final:
        k_now = min(k, final - len(ids) - 1)  # a round never overshoots
        round_key, rounds = jax.random.fold_in(key, rounds), rounds + 1
        start, drafted, q, token = len(ids) - 1, [], [], ids[-1]
        for i in range(k_now):
            q_i, token, draft_cache = propose(draft_params, jnp.asarray([[token]]), jnp.asarray([start + i]),
                                              draft_cache, jax.random.fold_in(round_key, i), settings,
                                              config=draft_config)
            q.append(q_i)
            drafted.append(int(token))
        if k_now:  # the last proposal too, so that the draft's cache is full whatever is accepted
            _, _, draft_cache = propose(draft_params, jnp.asarray([[token]]), jnp.asarray([start + k_now]),
                                        draft_cache, round_key, settings, config=draft_config)
        q = jnp.stack(q) if q else jnp.zeros((0, target_config.vocab_size))
        n_accepted, next_token, target_cache = check(
            target_params, jnp.asarray([[ids[-1], *drafted]]), jnp.asarray([start]), target_cache, q,
            jnp.asarray(drafted, jnp.int32), jax.random.fold_in(round_key, k + 1), settings, config=target_config)
        ids += drafted[:int(n_accepted)] + [int(next_token)]
        proposed, accepted = proposed + k_now, accepted + int(n_accepted)
    return Speculation(np.asarray([ids]), proposed, accepted)
