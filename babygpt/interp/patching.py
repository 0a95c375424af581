"""Activation patching (Meng et al. 2022; Wang et al. 2023): run the model on a clean input and
on a corrupted one that changes the answer, then copy one activation of the clean run into the
corrupted run and measure how much of the clean answer comes back.

The measure is the logit difference, logit(clean answer) - logit(corrupted answer) at the last
position, and the share restored, (patched - corrupted) / (clean - corrupted): 0 when the patched
activation carries nothing of the answer, 1 when it carries all of it.
"""

import torch

from .hooks import run_with_cache, run_with_hooks


def induction_pair(batch: int, half: int, vocab_size: int, generator: torch.Generator):
    """Clean and corrupted inputs for an induction head, (batch, 2·half - 1) each, and the two
    answers (batch,). The clean input is x_0 .. x_{h-1} x_0 .. x_{h-2}: its last token x_{h-2}
    came before, followed by x_{h-1}, which is the answer. The corrupted input changes that
    earlier x_{h-1} to another token y, the corrupted answer."""
    first = torch.randint(0, vocab_size, (batch, half), generator=generator)
    answer = first[:, -1]
    wrong = (answer + torch.randint(1, vocab_size, (batch,), generator=generator)) % vocab_size
    clean = torch.cat([first, first[:, :-1]], dim=1)
    corrupted = clean.clone()
    corrupted[:, half - 1] = wrong
    return clean, corrupted, answer, wrong


def logit_difference(logits: torch.Tensor, answer: torch.Tensor, wrong: torch.Tensor) -> float:
    """Mean of logit(answer) - logit(wrong) at the last position: logits (batch, seq, vocab)."""
    last = logits[:, -1]
    rows = torch.arange(len(last))
    return (last[rows, answer] - last[rows, wrong]).mean().item()


def patch(clean: torch.Tensor, position: int | None = None, head: int | None = None):
    """A hook that replaces an activation by ``clean`` (the same activation in the clean run):
    all of it, or only at ``position`` (axis 1), or only ``head`` (axis 2, of ``attn.z``)."""
    def hook(x):
        x = x.clone()
        index = (slice(None), slice(None) if position is None else position)
        if head is not None:
            index = (*index, head)
        x[index] = clean[index]
        return x
    return hook


def restored_share(model, corrupted, answer, wrong, hooks, clean_difference, corrupted_difference) -> float:
    """The share of the clean logit difference that ``hooks`` bring back to the corrupted run."""
    with torch.no_grad():
        patched = logit_difference(run_with_hooks(model, corrupted, hooks), answer, wrong)
    return (patched - corrupted_difference) / (clean_difference - corrupted_difference)


def patch_residual_stream(model, clean, corrupted, answer, wrong) -> torch.Tensor:
    """The share restored by patching the residual stream before each block and after the last,
    one position at a time: (n_layer + 1, seq)."""
    n_layer = model.config.n_layer
    names = [f"blocks.{i}.resid_pre" for i in range(n_layer)] + [f"blocks.{n_layer - 1}.resid_post"]
    with torch.no_grad():
        clean_logits, cache = run_with_cache(model, clean, names)
        differences = (logit_difference(clean_logits, answer, wrong),
                       logit_difference(model(corrupted), answer, wrong))
    return torch.tensor([[restored_share(model, corrupted, answer, wrong, {name: patch(cache[name], t)},
                                         *differences)
                          for t in range(clean.shape[1])] for name in names])


def patch_heads(model, clean, corrupted, answer, wrong) -> torch.Tensor:
    """The share restored by patching one head's output (``attn.z``, every position):
    (n_layer, n_head)."""
    names = [f"blocks.{i}.attn.z" for i in range(model.config.n_layer)]
    with torch.no_grad():
        clean_logits, cache = run_with_cache(model, clean, names)
        differences = (logit_difference(clean_logits, answer, wrong),
                       logit_difference(model(corrupted), answer, wrong))
    return torch.tensor([[restored_share(model, corrupted, answer, wrong, {name: patch(cache[name], head=h)},
                                         *differences)
                          for h in range(model.config.n_head)] for name in names])
