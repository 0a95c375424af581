"""Answering addition problems greedily, and scoring the answers."""

import torch

from lmbase.addition import END, completion, exact_match, prompt
from ..generate import generate
from .batches import TOKENIZER, prompt_ids


def longest_completion(problems, fmt: str) -> int:
    """Characters of the longest right completion: how far greedy decoding must run."""
    return max(len(completion(p, fmt)) for p in problems)


@torch.no_grad()
def written_completions(model, problems, fmt: str, batch_size: int = 500) -> list[str]:
    """What ``model`` writes after each problem's prompt, greedily, up to its first ``END``
    (or as many characters as the right completion has and 1 more, if it never ends)."""
    problems = list(problems)
    budget = longest_completion(problems, fmt) + 1
    model.eval()
    written = []
    for start in range(0, len(problems), batch_size):
        chunk = problems[start:start + batch_size]
        prompts = prompt_ids(chunk, fmt)
        rows = generate(model, prompts, budget, temperature=0.0)
        for p, row in zip(prompts, rows):
            new = TOKENIZER.decode(row[len(p):].numpy())
            written.append(new[:new.index(END) + 1] if END in new else new)
    return written


def accuracy_by_digits(model, test: dict, fmt: str) -> dict[int, tuple[int, int]]:
    """``{n_digits: (correct, total)}`` of exact-match answers on ``test`` (``{n: problems}``)."""
    scores = {}
    for n, problems in sorted(test.items()):
        right = exact_match(problems, written_completions(model, problems, fmt), fmt)
        scores[n] = (sum(right), len(right))
    return scores


def needed_context(problems, fmt: str) -> int:
    """Positions the longest example of ``problems`` occupies: prompt and completion."""
    return max(len(prompt(p, fmt)) + len(completion(p, fmt)) for p in problems)
