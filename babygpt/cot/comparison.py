"""Chapter 13's comparison: every model and format trained and scored the same way, at the
chapter's fast sizes (a CPU, minutes) or its full sizes (a GPU; ``benchmarks/chain_of_thought.py``).
"""

import time
from dataclasses import dataclass

from lmbase import addition
from lmbase.flops import gpt_forward_flops
from ..llama import Llama, LlamaConfig
from ..model import GPT, GPTConfig
from ..train import TrainConfig
from .batches import TOKENIZER, example_tensors
from .evaluation import accuracy_by_digits, needed_context
from .training import train_on_examples

KINDS = ("gpt", "llama")  # learned positions; rotary positions (chapter 8)


@dataclass(frozen=True)
class Sizes:
    """The problems, the model and the training of one comparison."""
    train_digits: tuple[int, ...]  # the numbers of digits trained on; one more is tested too
    n_train: int  # training problems per number of digits
    d_model: int
    n_layer: int
    steps: int
    n_head: int = 4
    n_test: int = 1_000  # test problems per number of digits
    batch_size: int = 64

    @property
    def longer(self) -> int:
        """One digit longer than any training problem: the length-generalisation test."""
        return max(self.train_digits) + 1


FAST = Sizes(train_digits=(2, 3), n_train=2_000, d_model=128, n_layer=3, steps=400)
FULL = Sizes(train_digits=(2, 3, 4, 5), n_train=20_000, d_model=256, n_layer=6, steps=5_000)


def problem_sets(sizes: Sizes, seed: int = 0) -> tuple[dict, dict]:
    """``train, test``, each ``{n_digits: [Problem, ...]}``: disjoint per length, with
    ``test[sizes.longer]`` drawn (with its own seed) at a length never trained on."""
    train, test = addition.train_test_split(sizes.train_digits, sizes.n_train, sizes.n_test, seed)
    test[sizes.longer] = addition.draw_problems(sizes.longer, sizes.n_test, seed=seed + 7)
    return train, test


def context_for(test: dict) -> int:
    """Positions the longest test example takes in any format: every model's context."""
    return max(needed_context(problems, fmt) for problems in test.values() for fmt in addition.FORMATS)


def addition_model(kind: str, sizes: Sizes, context: int, seed: int = 0):
    """A GPT (``kind="gpt"``) or a LLaMA (``"llama"``) of ``sizes``; the LLaMA's SwiGLU hidden
    width gives it the GPT's parameter count within a few per cent."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not a model of this comparison: use one of {KINDS}")
    shape = dict(vocab_size=TOKENIZER.vocab_size, context=context, n_layer=sizes.n_layer,
                 n_head=sizes.n_head, d_model=sizes.d_model)
    if kind == "gpt":
        return GPT(GPTConfig(**shape), seed=seed)
    hidden = 8 * round(2 / 3 * 4 * sizes.d_model / 8)  # SwiGLU's three matrices at the GPT's size
    return Llama(LlamaConfig(**shape, hidden_dim=hidden), seed=seed)


def train_and_score(kind: str, fmt: str, train: dict, test: dict, sizes: Sizes,
                    steps: int | None = None, device: str = "cpu") -> dict:
    """Train a fresh ``kind`` model on every training problem written in ``fmt`` for ``steps``
    (``sizes.steps`` by default), then score its greedy answers on ``test``.

    Returns ``{"kind", "format", "steps", "model" (back on the CPU), "seq" (positions per
    training row), "loss" (the last logged), "seconds" (training), "scores" ({n_digits:
    (correct, total)})}``."""
    steps = sizes.steps if steps is None else steps
    model = addition_model(kind, sizes, context_for(test)).to(device)
    inputs, targets = example_tensors([p for n in sizes.train_digits for p in train[n]], fmt)
    config = TrainConfig(steps=steps, batch_size=sizes.batch_size, lr=1e-3, min_lr=1e-4,
                         warmup_steps=50, weight_decay=0.1, seed=0)
    started = time.perf_counter()
    history = train_on_examples(model, inputs, targets, config, progress=False)
    seconds = time.perf_counter() - started
    scores = accuracy_by_digits(model, test, fmt)
    return {"kind": kind, "format": fmt, "steps": steps, "model": model.cpu(), "seq": inputs.shape[1],
            "loss": history[-1]["loss"], "seconds": seconds, "scores": scores}


def training_flops(run: dict, sizes: Sizes) -> float:
    """3x the forward FLOPs of every position of every row of every batch of ``run``: the
    padding and the prompt cost compute too."""
    per_token = sum(gpt_forward_flops(TOKENIZER.vocab_size, sizes.n_layer, sizes.d_model, run["seq"]).values())
    return 3 * per_token * run["seq"] * sizes.batch_size * run["steps"]


def equal_flops_steps(run: dict, other: dict, sizes: Sizes) -> int:
    """The steps that give ``other``'s format the training FLOPs of ``run``."""
    return round(training_flops(run, sizes) / training_flops({**other, "steps": 1}, sizes))
