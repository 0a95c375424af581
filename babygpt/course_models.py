"""The course models babygpt trains (``lmbase.course_models``): load one by name, evaluate it on
the whole validation text, and turn a training run into the stored float16 file.

    model, tokenizer = load("babygpt-shakespeare")
"""

from pathlib import Path

import numpy as np
import torch

from lmbase import course_models
from lmbase.char_tokenizer import CharTokenizer
from lmbase.checkpoint import load_checkpoint, save_checkpoint
from lmbase.course_models import validation_ids

from .checkpoint import load_model, model_tensors
from .model import cross_entropy


def load(name: str):
    """``(model, tokenizer)`` of course model ``name``, in eval mode, float32, on the CPU."""
    model, config_json = load_model(course_models.path(name))
    return model.eval(), CharTokenizer(config_json["tokenizer"]["chars"])


@torch.no_grad()
def validation_loss(model, val_ids: np.ndarray, batch_size: int = 64) -> float:
    """Mean loss (nats per token) over every window of ``course_models.validation_windows``."""
    x, y = course_models.validation_windows(val_ids, model.config.context)
    model.eval()
    total = 0.0
    for start in range(0, len(x), batch_size):
        xb, yb = (torch.from_numpy(a[start:start + batch_size]) for a in (x, y))
        total += cross_entropy(model(xb), yb).item() * len(xb)
    return total / len(x)


def training_log(run: Path) -> tuple[list[float], list[dict]]:
    """A finished run's training loss at every step and its evaluations (step, train and val loss)."""
    _, _, extra = load_checkpoint(run, parts=("optimizer",))
    meta = extra["optimizer"][1]
    return meta["losses"], meta["history"]


def store(run: Path, folder: Path, corpus: str) -> dict:
    """Write the run's model to ``folder`` as float16 and measure what that costs on ``corpus``.

    Returns the parameter count and the validation loss before (float32) and after (the stored
    file, read back as float32).
    """
    trained, config_json = load_model(run)
    tokenizer = CharTokenizer(config_json["tokenizer"]["chars"])
    val_ids = validation_ids(corpus, tokenizer)
    tensors, config = model_tensors(trained)
    half = {name: value.astype(np.float16) for name, value in tensors.items()}
    save_checkpoint(folder, half, {**config, "tokenizer": config_json["tokenizer"], "corpus": corpus})
    stored, _ = load_model(folder)
    return {
        "parameters": trained.num_parameters(),
        "val_loss_float32": validation_loss(trained, val_ids),
        "val_loss": validation_loss(stored, val_ids),
    }
