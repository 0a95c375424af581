"""Speculative decoding (Leviathan et al. 2023; Chen et al. 2023): a small draft model proposes
``k`` tokens, the large target model checks them all in one forward pass, and an accept/reject
rule keeps exactly the target's distribution.

Draft token ``d`` drawn from the draft's distribution ``q`` is accepted with probability
``min(1, p(d) / q(d))``, ``p`` the target's distribution at that position. At the first
rejection the token is drawn instead from the residual ``max(0, p - q)`` (normalised), and the
later proposals are dropped; when all ``k`` are accepted, the target's distribution after them
gives one token more. Each token then has exactly the target's distribution: ``q(d) ·
min(1, p(d)/q(d)) + (1 - Σ min(p, q)) · max(0, p(d) - q(d)) / Σ max(0, p - q) = p(d)``. At
temperature 0 both distributions put all their mass on one token, and the rule accepts a
proposal exactly when it is the target's argmax: the output is the target's greedy text.

Every round costs ``k + 1`` forward passes of the draft (the last one only fills its cache with
the last proposal) and one of the target over ``k + 1`` positions, and yields from 1 to ``k + 1``
tokens. One sequence at a time; it stops at the context (no sliding window here).
"""

from dataclasses import dataclass

import torch

from .generate import as_rows, check_sampling, next_token_probs
from .model import check_token_ids


def verify(p: torch.Tensor, q: torch.Tensor, drafted: torch.Tensor, generator=None):
    """The accept/reject rule, for a batch of independent proposals.

    p: (batch, k + 1, vocab), the target's distributions at the k drafted positions and the one
    after; q: (batch, k, vocab), the draft's; drafted: (batch, k), the tokens drawn from q.
    Returns ``(n_accepted (batch,), next_token (batch,))``: the proposals kept are
    ``drafted[:, :n_accepted]``, followed by ``next_token``.
    """
    batch, k = drafted.shape
    p_drafted = p[:, :k].gather(-1, drafted[..., None])[..., 0]
    q_drafted = q.gather(-1, drafted[..., None])[..., 0]
    accept = torch.rand(batch, k, generator=generator, device=p.device) < p_drafted / q_drafted
    n_accepted = accept.long().cumprod(dim=-1).sum(dim=-1)  # the proposals before the first rejection
    # q is zero after the k-th proposal, so that when all are accepted the residual is p itself
    q_padded = torch.cat([q, torch.zeros_like(p[:, :1])], dim=1)
    rows = torch.arange(batch, device=p.device)
    residual = (p[rows, n_accepted] - q_padded[rows, n_accepted]).clamp(min=0)
    return n_accepted, torch.multinomial(residual, 1, generator=generator)[:, 0]


@dataclass
class Speculation:
    """What :func:`speculative_generate` produced: the tokens (1, seq + new) and how many of
    the draft's proposals the target accepted."""

    ids: torch.Tensor
    proposed: int
    accepted: int

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / max(1, self.proposed)


def check_draft(target, draft, length: int) -> None:
    """Raise ValueError, naming the fix, unless the draft speaks the target's vocabulary and both
    contexts hold ``length`` tokens."""
    if draft.config.vocab_size != target.config.vocab_size:
        raise ValueError(
            f"the draft model's vocabulary has {draft.config.vocab_size} tokens and the target's "
            f"{target.config.vocab_size}: the draft must propose token ids the target reads, so train it "
            f"with the target's tokenizer"
        )
    context = min(target.config.context, draft.config.context)
    if length > context:
        raise ValueError(
            f"the prompt and the new tokens make {length} tokens, past the context of {context} that "
            f"speculative decoding works within: ask for at most {context} in all, or use babygpt.generate, "
            f"whose window slides"
        )


@torch.no_grad()
def speculative_generate(target, draft, prompt, max_new_tokens: int, *, k: int = 4, temperature: float = 1.0,
                         top_k: int | None = None, top_p: float = 1.0, min_p: float = 0.0,
                         generator=None) -> Speculation:
    """Continue ``prompt`` (1, seq) by ``max_new_tokens`` tokens of the target's distribution
    (or its greedy text at temperature 0), ``draft`` proposing ``k`` tokens a round."""
    check_sampling(temperature, top_k, top_p, min_p)
    if k < 1 or max_new_tokens < 0:
        raise ValueError(f"k={k} and max_new_tokens={max_new_tokens}: propose k >= 1 tokens a round, "
                         f"and ask for 0 or more new tokens")
    (row,) = as_rows(prompt)
    check_draft(target, draft, len(row) + max_new_tokens)
    check_token_ids(row, target.config.vocab_size)
    ids = row.tolist()
    settings = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
    device = next(target.parameters()).device
    caches = {m: m.new_kv_caches(1, len(ids) + max_new_tokens) for m in (target, draft)}
    if len(ids) > 1:  # both models cache the prompt but its last token, which each round reads first
        for m in (target, draft):
            m(torch.tensor([ids[:-1]], device=device), caches=caches[m])
    proposed = accepted = 0
    while len(ids) < len(row) + max_new_tokens:
        k_now = min(k, len(row) + max_new_tokens - len(ids) - 1)  # a round never overshoots
        start, last = len(ids) - 1, torch.tensor([[ids[-1]]], device=device)
        drafted, q, token = [], [], last
        for i in range(k_now):
            logits = draft(token, start=start + i, caches=caches[draft], validate=False)[:, -1]
            q.append(next_token_probs(logits, **settings))
            token = torch.multinomial(q[-1], 1, generator=generator)
            drafted.append(token)
        if k_now:  # the last proposal too, so that the draft's cache is full whatever is accepted
            draft(token, start=start + k_now, caches=caches[draft], validate=False)
        block = torch.cat([last, *drafted], dim=1)  # the last token and the proposals: one pass
        logits = target(block, start=start, caches=caches[target], validate=False)[0]
        p = next_token_probs(logits, **settings)[None]
        drafted = torch.cat(drafted, dim=1) if drafted else torch.zeros(1, 0, dtype=torch.long, device=device)
        q = torch.stack(q, dim=1) if q else p[:, :0]
        n_accepted, next_token = verify(p, q, drafted, generator)
        ids += drafted[0, :n_accepted].tolist() + [next_token.item()]
        proposed, accepted = proposed + k_now, accepted + int(n_accepted)
    return Speculation(torch.tensor([ids], device=row.device), proposed, accepted)
