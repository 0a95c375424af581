"""The course models microgpt trains (``lmbase.course_models``): load one by name, evaluate it on
the whole validation text, and turn a training run into the stored float16 file.

    params, config, tokenizer = load("microgpt-shakespeare")
"""

from pathlib import Path

import jax
import numpy as np

from lmbase import course_models
from lmbase.char_tokenizer import CharTokenizer
from lmbase.checkpoint import load_checkpoint, save_checkpoint
from lmbase.course_models import validation_ids
from lmbase.microgpt_config import config_to_json

from . import checkpoint
from .model import GPTConfig, loss_fn

_loss = jax.jit(loss_fn, static_argnames=("config",))


def load(name: str):
    """``(params, config, tokenizer)`` of course model ``name``, float32."""
    params, config, config_json = checkpoint.load(course_models.path(name))
    return params, config, CharTokenizer(config_json["tokenizer"]["chars"])


def validation_loss(params, config: GPTConfig, val_ids: np.ndarray, batch_size: int = 64) -> float:
    """Mean loss (nats per token) over every window of ``course_models.validation_windows``."""
    x, y = course_models.validation_windows(val_ids, config.context)
    total = 0.0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size].astype(np.int32), y[start:start + batch_size].astype(np.int32)
        total += float(_loss(params, xb, yb, config)) * len(xb)
    return total / len(x)


def training_log(run: Path) -> tuple[list[float], list[dict]]:
    """A finished run's training loss at every step and its evaluations (step, train and val loss, lr)."""
    _, _, extra = load_checkpoint(run, parts=("optimizer",))
    state = extra["optimizer"][1]
    return state["losses"], state["history"]


def store(run: Path, folder: Path, corpus: str) -> dict:
    """Write the run's model to ``folder`` as float16 and measure what that costs on ``corpus``.

    Returns the parameter count and the validation loss before (float32) and after (the stored
    file, read back as float32).
    """
    params, config, config_json = checkpoint.load(run)
    tokenizer = CharTokenizer(config_json["tokenizer"]["chars"])
    val_ids = validation_ids(corpus, tokenizer)
    half = {name: value.astype(np.float16) for name, value in checkpoint.flatten_params(params).items()}
    save_checkpoint(folder, half, {**config_to_json(config, "".join(tokenizer.chars)), "corpus": corpus})
    stored, _, _ = checkpoint.load(folder)
    return {
        "parameters": sum(int(np.size(leaf)) for leaf in jax.tree.leaves(params)),
        "val_loss_float32": validation_loss(params, config, val_ids),
        "val_loss": validation_loss(stored, config, val_ids),
    }
