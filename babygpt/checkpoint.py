"""babygpt models to and from the course's one checkpoint format (``lmbase.checkpoint``).

A checkpoint is a folder with ``config.json`` and ``model.safetensors``. ``config.json`` is
self-describing: ``{"model_type": "babygpt" | "babygpt-llama" | "microgpt", "format_version": 1,
...the fields of the model's configuration...}`` plus whatever else the writer adds (the trainer
adds ``train``, its settings, and ``tokenizer``). A :class:`~babygpt.model.GPT` or a
:class:`~babygpt.llama.Llama` is stored under its PyTorch parameter names; a
:class:`~babygpt.microgpt_arch.MicroGPT` exactly as microgpt (JAX) writes its own, names, layouts
and config.json alike, so that each package reads the other's checkpoints.
"""

from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from lmbase.checkpoint import (
    CONFIG_FILE, CheckpointError, check_shapes, config_from_fields, load_checkpoint, save_checkpoint,
)
from lmbase.microgpt_config import config_from_json, config_to_json

from .llama import Llama, LlamaConfig
from .microgpt_arch import MicroGPT, MicroGPTConfig
from .model import GPT, GPTConfig

MODEL_TYPE = "babygpt"
FORMAT_VERSION = 1
# The models stored under their own PyTorch parameter names: model_type -> (model, config) class.
NATIVE_MODELS = {MODEL_TYPE: (GPT, GPTConfig), "babygpt-llama": (Llama, LlamaConfig)}


def model_tensors(model) -> tuple[dict, dict]:
    """``(tensors, config_json)`` of a model: float32 numpy arrays by name, and its config.json.

    Every model is stored under its parameter names: a MicroGPT's are microgpt's own."""
    tensors = {name: p.detach().float().cpu().numpy() for name, p in model.named_parameters()}
    if isinstance(model, MicroGPT):
        return tensors, config_to_json(model.config)
    for model_type, (model_class, _) in NATIVE_MODELS.items():
        if isinstance(model, model_class):
            return tensors, {"model_type": model_type, "format_version": FORMAT_VERSION, **model.config.to_dict()}
    raise TypeError(f"cannot checkpoint a {type(model).__name__}: babygpt saves GPT, Llama and MicroGPT models")


def model_config(config_json: dict, source="config.json"):
    """The GPTConfig, LlamaConfig or MicroGPTConfig a checkpoint's config.json describes.

    ``source`` (the file's path) is named in the errors: an unknown model type, a missing field."""
    model_type = config_json.get("model_type")
    if model_type in NATIVE_MODELS:
        return config_from_fields(NATIVE_MODELS[model_type][1], config_json, source)
    if model_type == "microgpt":
        return config_from_json(config_json, source)
    raise CheckpointError(
        f"{source} has model_type {model_type!r}; babygpt reads {sorted(NATIVE_MODELS) + ['microgpt']}"
    )


def model_for(config):
    """A freshly initialised model of this configuration (GPTConfig, LlamaConfig or MicroGPTConfig)."""
    if isinstance(config, MicroGPTConfig):
        return MicroGPT(config)
    for model_class, config_class in NATIVE_MODELS.values():
        if isinstance(config, config_class):
            return model_class(config)
    raise TypeError(f"no babygpt model is configured by a {type(config).__name__}")


def build_model(config_json: dict, source="config.json"):
    """The (randomly initialised) model a checkpoint's config.json (``source``) describes."""
    return model_for(model_config(config_json, source))


def load_tensors_into(model, tensors: dict, source: str = "the checkpoint") -> None:
    """Copy numpy arrays named like ``model.named_parameters()`` into ``model`` (float16 files are
    read as float32); a tensor missing, extra or of another shape raises a CheckpointError naming ``source``."""
    params = dict(model.named_parameters())
    check_shapes({n: tuple(p.shape) for n, p in params.items()}, {n: np.shape(t) for n, t in tensors.items()}, source)
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(torch.from_numpy(np.asarray(tensors[name], dtype=np.float32)))


def save_model(folder, model, extra_config: dict | None = None, extra_parts: dict | None = None):
    """Write ``model`` (and optional training-state parts) to ``folder`` atomically."""
    tensors, config = model_tensors(model)
    return save_checkpoint(folder, tensors, {**config, **(extra_config or {})}, extra=extra_parts)


def load_model(folder, expected=None):
    """``(model, config_json)`` from ``folder``. With ``expected`` (a configuration), a checkpoint
    of another configuration raises a CheckpointError naming the first field that differs
    (``expected=`` as in ``microgpt.checkpoint.load``)."""
    tensors, config_json, _ = load_checkpoint(folder)
    config = model_config(config_json, Path(folder) / CONFIG_FILE)
    if expected is not None:
        if type(expected) is not type(config):
            raise CheckpointError(
                f"{folder} holds a {config_json.get('model_type')} model, not a {type(expected).__name__}: "
                f"load it without `expected`"
            )
        for f in fields(config):
            if getattr(config, f.name) != getattr(expected, f.name):
                raise CheckpointError(
                    f"{folder} holds a model with {f.name}={getattr(config, f.name)!r}, this one expects "
                    f"{f.name}={getattr(expected, f.name)!r}: build the model from the checkpoint's config.json"
                )
    model = model_for(config)
    load_tensors_into(model, tensors, str(folder))
    return model, config_json
