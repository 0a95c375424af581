"""Training a model on addition examples: AdamW, warmup and cosine decay, random batches."""

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..train import TrainConfig, learning_rate, make_optimizer
from .batches import IGNORE


def completion_loss(model, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the targets that are not ``IGNORE``; inputs, targets (batch, seq)."""
    logits = model(inputs, validate=False)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)


def train_on_examples(model, inputs: torch.Tensor, targets: torch.Tensor, config: TrainConfig,
                      progress: bool = True, every: int = 50) -> list[dict]:
    """Train ``model`` for ``config.steps`` steps on batches of ``config.batch_size`` rows drawn
    (with ``config.seed``) from ``inputs``, ``targets`` (n_examples, seq), kept on the CPU; each
    batch moves to the model's device. Returns the history:
    ``{"step", "loss", "tokens"}`` every ``every`` steps and at the last, where ``tokens`` counts
    every input position trained on so far (prompt and padding included: they cost compute).

    The loop does not evaluate (the chapter scores answers instead): ``eval_every`` and
    ``eval_batches`` do not apply, and the settings it cannot honour raise an error."""
    if len(inputs) != len(targets) or inputs.shape != targets.shape:
        raise ValueError(f"inputs {tuple(inputs.shape)} and targets {tuple(targets.shape)} differ in shape")
    if config.grad_accum != 1 or config.precision != "fp32" or config.compile:
        raise ValueError("train_on_examples runs fp32, uncompiled, without gradient accumulation: set "
                         "grad_accum=1, precision='fp32' and compile=False")
    generator = torch.Generator().manual_seed(config.seed)  # on the CPU, with the examples
    device = next(model.parameters()).device
    optimizer = make_optimizer(model, config, fused=device.type == "cuda")
    model.train()
    history = []
    for step in tqdm(range(config.steps), disable=not progress, desc="training"):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        rows = torch.randint(len(inputs), (config.batch_size,), generator=generator)
        loss = completion_loss(model, inputs[rows].to(device), targets[rows].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        if (step + 1) % every == 0 or step + 1 == config.steps:
            tokens = (step + 1) * config.batch_size * inputs.shape[1]
            history.append({"step": step + 1, "loss": loss.item(), "tokens": tokens})
    model.eval()
    return history
