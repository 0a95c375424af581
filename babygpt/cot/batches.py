"""Addition examples as token batches: inputs, and targets that score the completion only."""

import torch

from lmbase.addition import END, VOCAB, prompt, text
from lmbase.char_tokenizer import CharTokenizer

IGNORE = -100  # F.cross_entropy's ignore_index: no loss at this target

TOKENIZER = CharTokenizer(VOCAB)


def example_tensors(problems, fmt: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets, both (n_problems, longest - 1) int64, for next-token training.

    Row ``i`` holds ``text(problems[i], fmt)`` shifted by one: ``inputs[i, t]`` is character ``t``,
    ``targets[i, t]`` character ``t + 1``. Targets inside the prompt (the model is not asked to
    predict the numbers it is given) and after the end are ``IGNORE``; shorter rows are padded
    with ``END``.
    """
    problems = list(problems)
    if not problems:
        raise ValueError("no problems: give at least one to make a batch")
    texts = [text(p, fmt) for p in problems]
    longest = max(len(t) for t in texts)
    end = TOKENIZER.id_of[END]
    inputs = torch.full((len(texts), longest - 1), end, dtype=torch.long)
    targets = torch.full((len(texts), longest - 1), IGNORE, dtype=torch.long)
    for i, (problem, example) in enumerate(zip(problems, texts)):
        ids = torch.from_numpy(TOKENIZER.encode(example))
        start = len(prompt(problem, fmt)) - 1  # the target of this input is the first written token
        inputs[i, :len(ids) - 1] = ids[:-1]
        targets[i, start:len(ids) - 1] = ids[start + 1:]
    return inputs, targets


def prompt_ids(problems, fmt: str) -> list[torch.Tensor]:
    """Each problem's prompt as token ids (seq,)."""
    return [torch.from_numpy(TOKENIZER.encode(prompt(p, fmt))) for p in problems]
