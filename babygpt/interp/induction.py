"""Induction heads (Elhage et al. 2021; Olsson et al. 2022): on a sequence that repeats, a head
in layer 1 attends from each token to the token that followed its previous occurrence, helped
by a layer-0 head that attends to the previous token; the model then predicts the repeat.

The task is a random sequence of ``half`` tokens written twice: the first half cannot be
predicted (its loss is about ln(vocab)), the second half can, by copying.
"""

import torch
from torch import nn

from ..llama import Llama, LlamaConfig
from ..model import cross_entropy
from ..train import TrainConfig, learning_rate
from .hooks import hook_names, run_with_cache


class NoMLP(nn.Module):
    """Stands in for a block's MLP to make the model attention-only: it adds nothing."""

    def forward(self, x):
        return torch.zeros_like(x)


def attention_only_llama(vocab_size: int, half: int, d_model: int = 64, n_head: int = 4,
                         n_layer: int = 2, seed: int = 0) -> Llama:
    """A babygpt LLaMA whose MLPs are removed. Its rotary positions enter only the queries and
    keys, never the residual stream, as Shortformer's positions do (Press et al. 2021), which
    makes induction heads form quickly."""
    config = LlamaConfig(vocab_size=vocab_size, context=2 * half, n_layer=n_layer, n_head=n_head,
                         d_model=d_model)
    model = Llama(config, seed=seed)
    for layer in model.layers:
        layer.feed_forward = NoMLP()
    return model


def repeated_tokens(batch: int, half: int, vocab_size: int, generator: torch.Generator,
                    period: int | None = None) -> torch.Tensor:
    """``batch`` random sequences of ``half`` tokens, each written twice: (batch, 2·half). With
    ``period`` (at most ``half``), the repeated run is ``period`` tokens long and random tokens
    fill the 2·(half - period) positions before it, so the length stays 2·half."""
    period = half if period is None else period
    if not 1 <= period <= half:
        raise ValueError(f"period={period} must be between 1 and half={half}")
    noise = torch.randint(0, vocab_size, (batch, 2 * (half - period)), generator=generator)
    first = torch.randint(0, vocab_size, (batch, period), generator=generator)
    return torch.cat([noise, first, first], dim=1)


def half_losses(logits: torch.Tensor, ids: torch.Tensor) -> tuple[float, float]:
    """Mean next-token loss on the first half and on the second (repeated) half of ids
    (batch, 2·half), from logits (batch, 2·half, vocab). The prediction of the first repeated
    token, which nothing announces, is in neither."""
    half = ids.shape[1] // 2
    first = cross_entropy(logits[:, : half - 1].contiguous(), ids[:, 1:half]).item()
    second = cross_entropy(logits[:, half:-1].contiguous(), ids[:, half + 1:]).item()
    return first, second


def induction_score(pattern: torch.Tensor) -> torch.Tensor:
    """The mean attention from each second-half position t to t - half + 1, the token after the
    previous occurrence of token t: pattern (batch, n_head, 2·half, 2·half) -> (n_head,)."""
    half = pattern.shape[-1] // 2
    t = torch.arange(half, 2 * half)
    return pattern[:, :, t, t - half + 1].mean((0, 2))


def previous_token_score(pattern: torch.Tensor) -> torch.Tensor:
    """The mean attention from each position t ≥ 1 to t - 1: (batch, n_head, seq, seq) -> (n_head,)."""
    t = torch.arange(1, pattern.shape[-1])
    return pattern[:, :, t, t - 1].mean((0, 2))


def head_scores(model, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every head's induction and previous-token scores on ids (batch, 2·half) of repeated
    tokens: two (n_layer, n_head) tensors."""
    names = [n for n in hook_names(model) if n.endswith("attn.pattern")]
    _, cache = run_with_cache(model, ids, names)
    patterns = [cache[n] for n in names]
    return (torch.stack([induction_score(p) for p in patterns]),
            torch.stack([previous_token_score(p) for p in patterns]))


def zero_heads(model, heads) -> dict:
    """Hooks that zero the output of each (layer, head) in ``heads``: zero ablation."""
    by_layer = {}
    for layer, head in heads:
        if not 0 <= layer < model.config.n_layer or not 0 <= head < model.config.n_head:
            raise ValueError(f"head ({layer}, {head}) does not exist: the model has {model.config.n_layer} "
                             f"layers of {model.config.n_head} heads, numbered from 0")
        by_layer.setdefault(layer, []).append(head)

    def zero(heads_here):
        def hook(z):
            z = z.clone()
            z[:, :, heads_here] = 0
            return z
        return hook

    return {f"blocks.{layer}.attn.z": zero(h) for layer, h in by_layer.items()}


def train_induction(model, half: int, steps: int, batch: int = 32, lr: float = 3e-3,
                    warmup: int = 200, seed: int = 0, eval_every: int = 50,
                    eval_ids: torch.Tensor | None = None) -> dict:
    """Train ``model`` on fresh batches of repeated tokens with AdamW, the learning rate rising
    linearly to ``lr`` over ``warmup`` steps and then decayed to 0 along a cosine; each batch
    repeats a run of a random length between half/2 and half (a fixed length would let a head
    find the copy by its distance alone, without induction). Every ``eval_every`` steps record
    the step, both halves' losses on ``eval_ids`` and the best layer-1 induction score.
    Returns that history; the model is left in eval mode."""
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(seed)
    if eval_ids is None:
        eval_ids = repeated_tokens(64, half, vocab, torch.Generator().manual_seed(seed + 1))
    schedule = TrainConfig(steps=steps, lr=lr, min_lr=0.0, warmup_steps=warmup)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    history = {"step": [], "first_half": [], "second_half": [], "induction": []}
    for step in range(1, steps + 1):
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step - 1, schedule)
        period = int(torch.randint(half // 2, half + 1, (), generator=generator))
        ids = repeated_tokens(batch, half, vocab, generator, period)
        loss = cross_entropy(model(ids[:, :-1]), ids[:, 1:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % eval_every == 0 or step == steps:
            model.eval()
            with torch.no_grad():
                first, second = half_losses(model(eval_ids), eval_ids)
                induction, _ = head_scores(model, eval_ids)
            for key, value in zip(history, (step, first, second, induction[-1].max().item())):
                history[key].append(value)
    return history
