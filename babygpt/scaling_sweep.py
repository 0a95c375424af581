"""A scaling-law sweep: small GPTs trained on Tiny Shakespeare at fixed compute budgets.

For each compute budget ``C`` and each model width, the model is trained for the number of steps
that spends ``C = 6 N D`` FLOPs (``N`` its parameters without the position table, the tied head
counted once; ``D`` the tokens it reads), with a cosine schedule that ends at that step, as
Chinchilla found necessary (a schedule longer than the run overstates the loss of short runs).
Each run's validation loss is one point of the IsoFLOP curves that ``lmbase.scaling_laws`` fits.

Every model has ``n_layer`` layers of heads 8 channels wide, context ``context``, no dropout
(one epoch or less of data), and the same optimizer settings.
"""

from dataclasses import dataclass

import torch

from lmbase.chinchilla import training_flops

from .model import GPT, GPTConfig
from .train import Trainer, TrainConfig


# The grids (budget in FLOPs: widths) of full and fast mode. Full mode is the grid of the recorded
# run (benchmarks/scaling_sweep.py); fast mode's two budgets are its second one and one below it.
FULL_GRID = {1e10: [8, 16, 24, 32], 3e10: [8, 16, 24, 32], 1e11: [16, 24, 32, 48], 3e11: [16, 24, 32, 48, 64]}
FAST_GRID = {1.5e10: [8, 16, 24], 3e10: [8, 16, 24]}


@dataclass(frozen=True)
class SweepRun:
    """One run of the sweep: its size, its data, its budget and the loss it reached."""

    d_model: int
    n_params: int  # without the position table; the tied embedding once
    n_params_without_embeddings: int  # without the token embedding either (Kaplan et al.'s count)
    steps: int
    tokens: int
    budget: float  # the compute budget the run belongs to
    flops: float  # 6 N D of the run itself (steps are whole, so within a step of the budget)
    val_loss: float


def sweep_config(d_model: int, n_layer: int = 2, context: int = 64, vocab_size: int = 65) -> GPTConfig:
    """The sweep's GPT of width ``d_model`` (heads of 8 channels)."""
    if d_model % 8:
        raise ValueError(f"d_model={d_model} must be a multiple of 8 (the sweep's heads are 8 wide)")
    return GPTConfig(vocab_size=vocab_size, context=context, n_layer=n_layer, n_head=d_model // 8,
                     d_model=d_model, dropout=0.0, bias=False, ln_bias=False)


def counted_params(model: GPT) -> tuple[int, int]:
    """``(N, N without embeddings)``: without the position table, and without the token table too."""
    n = model.num_parameters() - model.pos_emb.weight.numel()
    return n, n - model.tok_emb.weight.numel()


def train_run(config: GPTConfig, train_ids, val_ids, steps: int, batch_size: int, lr: float,
              eval_batches: int, seed: int = 0) -> tuple[GPT, float]:
    """Train a fresh model of ``config`` for ``steps`` steps; return it and its validation loss."""
    train_config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, min_lr=lr / 10,
                               warmup_steps=max(1, steps // 10), beta2=0.99, weight_decay=0.1, grad_clip=1.0,
                               precision="fp32", eval_every=10**9, eval_batches=eval_batches, seed=seed)
    trainer = Trainer(GPT(config, seed=seed), train_ids, val_ids, train_config, device="cpu", progress=False)
    for _ in range(steps):
        trainer.train_step()
    return trainer.model, trainer.evaluate("val")


def run_sweep(grid: dict, train_ids, val_ids, n_layer: int = 2, context: int = 32, batch_size: int = 32,
              lr: float = 2e-2, eval_batches: int = 8, seed: int = 0, progress=None) -> list[SweepRun]:
    """Train each width of ``grid`` (``{budget: widths}``) once at its budget, smallest budget first.
    ``progress(run)`` is called after each run."""
    for budget, widths in grid.items():
        if len(set(widths)) < 3:
            raise ValueError(f"budget {budget:.3g} has widths {list(widths)}: an IsoFLOP curve needs at least "
                             f"three model sizes; give it three or more widths")
    runs = []
    for budget in sorted(grid):
        for d_model in grid[budget]:
            config = sweep_config(d_model, n_layer, context)
            with torch.device("meta"):
                n, n_without = counted_params(GPT(config))
            steps = round(budget / training_flops(n, batch_size * context))
            if steps < 10:
                raise ValueError(f"budget {budget:.3g} gives the {n:,}-parameter model {steps} steps: "
                                 f"raise the budget or drop the widest models")
            _, val_loss = train_run(config, train_ids, val_ids, steps, batch_size, lr, eval_batches, seed)
            tokens = steps * batch_size * context
            run = SweepRun(d_model, n, n_without, steps, tokens, float(budget), training_flops(n, tokens), val_loss)
            runs.append(run)
            if progress is not None:
                progress(run)
    return runs
