"""babygpt models to and from the course's one checkpoint format (``lmbase.checkpoint``).

A checkpoint is a folder with ``config.json`` and ``model.safetensors``. ``config.json`` holds
``{"kind": ..., "model": {...fields of the configuration...}}`` plus whatever else the writer
adds (the trainer adds its own settings and the tokenizer). A :class:`~babygpt.model.GPT` is
stored under its PyTorch parameter names; a :class:`~babygpt.microgpt_arch.MicroGPT` under
microgpt's names and layout (see that module), so that microgpt (JAX) reads it as it is.
"""

import numpy as np
import torch

from lmbase.checkpoint import CheckpointError, check_shapes, load_checkpoint, save_checkpoint

from .microgpt_arch import MicroGPT, MicroGPTConfig, microgpt_tensors, load_microgpt_tensors
from .model import GPT, GPTConfig

GPT_KIND = "babygpt.GPT"
MICROGPT_KIND = "microgpt"


def model_tensors(model) -> tuple[dict, dict]:
    """``(tensors, config)`` of a model: numpy float32 arrays by name, and its config.json part."""
    if isinstance(model, MicroGPT):
        return microgpt_tensors(model), {"kind": MICROGPT_KIND, "model": model.config.to_dict()}
    if isinstance(model, GPT):
        tensors = {name: p.detach().float().cpu().numpy() for name, p in model.named_parameters()}
        return tensors, {"kind": GPT_KIND, "model": model.config.to_dict()}
    raise TypeError(f"cannot checkpoint a {type(model).__name__}: babygpt saves GPT and MicroGPT models")


def build_model(config: dict):
    """The (randomly initialised) model a checkpoint's config.json describes."""
    kind = config.get("kind")
    if kind == GPT_KIND:
        return GPT(GPTConfig(**config["model"]))
    if kind == MICROGPT_KIND:
        return MicroGPT(MicroGPTConfig(**config["model"]))
    raise CheckpointError(f"config.json has kind {kind!r}; babygpt reads {GPT_KIND!r} and {MICROGPT_KIND!r}")


def load_tensors_into(model, tensors: dict, source: str = "the checkpoint") -> None:
    """Copy checkpoint tensors into ``model``; a tensor missing, extra or of another shape raises."""
    if isinstance(model, MicroGPT):
        load_microgpt_tensors(model, tensors, source)
        return
    params = dict(model.named_parameters())
    check_shapes({n: tuple(p.shape) for n, p in params.items()}, {n: t.shape for n, t in tensors.items()}, source)
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(torch.from_numpy(np.asarray(tensors[name])))


def save_model(folder, model, extra_config: dict | None = None, extra_parts: dict | None = None):
    """Write ``model`` (and optional training-state parts) to ``folder`` atomically."""
    tensors, config = model_tensors(model)
    return save_checkpoint(folder, tensors, {**config, **(extra_config or {})}, extra=extra_parts)


def load_model(folder, expect=None):
    """Read a model from ``folder``. If ``expect`` (a config) is given, a checkpoint of another
    configuration raises a CheckpointError naming the first field that differs."""
    tensors, config, _ = load_checkpoint(folder)
    if expect is not None:
        found = config.get("model", {})
        for key, value in expect.to_dict().items():
            if found.get(key) != value:
                raise CheckpointError(
                    f"{folder} holds a model with {key}={found.get(key)!r}, this one expects {key}={value!r}: "
                    f"load it without `expect`, or build the model from the checkpoint's config.json"
                )
    model = build_model(config)
    load_tensors_into(model, tensors, str(folder))
    return model, config
