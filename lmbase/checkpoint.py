"""Checkpoints both packages read: a folder holding ``config.json`` and ``model.safetensors``.

The tensors are numpy arrays keyed by name; the configuration is JSON. Training state (the
optimizer's moments, the step, the random generator) goes in further ``<name>.safetensors``
and ``<name>.json`` pairs in the same folder, so one format serves microgpt (JAX) and babygpt
(PyTorch) alike.

Writing is atomic: everything is written into a fresh temporary folder beside the target, made
durable with fsync, then swapped in by renames. A crash leaves either the old checkpoint or the
new one, never a mixture; :func:`load_checkpoint` also finds the previous checkpoint if a crash
fell between the two renames of the swap.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, or does not fit the model it is loaded into."""


def save_checkpoint(folder, tensors: dict, config: dict, extra: dict | None = None) -> Path:
    """Write ``tensors`` (name -> numpy array) and ``config`` to ``folder`` atomically.

    ``extra`` maps a part name (e.g. ``"optimizer"``) to a ``(tensors, json_data)`` pair saved as
    ``<name>.safetensors`` and ``<name>.json``. Returns the folder's path.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.writing-"))
    try:
        parts = {"model": (tensors, None), **(extra or {})}
        for name, (part_tensors, part_json) in parts.items():
            arrays = {key: np.ascontiguousarray(np.asarray(value)) for key, value in part_tensors.items()}
            save_file(arrays, staging / f"{name}.safetensors")
            if part_json is not None:
                _write_json(staging / f"{name}.json", part_json)
        _write_json(staging / CONFIG_FILE, config)
        for path in staging.iterdir():
            _fsync(path)
        _fsync(staging)
        previous = folder.with_name(f".{folder.name}.previous")
        if previous.exists():
            shutil.rmtree(previous)
        if folder.exists():
            os.replace(folder, previous)
        os.replace(staging, folder)
        _fsync(folder.parent)
        if previous.exists():
            shutil.rmtree(previous)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return folder


def load_checkpoint(folder, parts: tuple[str, ...] = ()) -> tuple[dict, dict, dict]:
    """Read a checkpoint: ``(tensors, config, extra)``, extra[name] = (tensors, json or None)."""
    folder = Path(folder)
    if not (folder / CONFIG_FILE).exists():
        previous = folder.with_name(f".{folder.name}.previous")
        if (previous / CONFIG_FILE).exists():
            folder = previous  # a crash fell between the two renames of save_checkpoint
        else:
            raise CheckpointError(
                f"no checkpoint at {folder}: expected {folder / CONFIG_FILE} and {folder / MODEL_FILE}; "
                f"pass the folder that save_checkpoint wrote"
            )
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    tensors = load_file(folder / MODEL_FILE)
    extra = {}
    for name in parts:
        if not (folder / f"{name}.safetensors").exists():
            raise CheckpointError(f"checkpoint {folder} has no {name!r} part: it was saved without it")
        part_json = folder / f"{name}.json"
        extra[name] = (
            load_file(folder / f"{name}.safetensors"),
            json.loads(part_json.read_text(encoding="utf-8")) if part_json.exists() else None,
        )
    return tensors, config, extra


def check_shapes(expected: dict, found: dict, source: str) -> None:
    """Raise CheckpointError naming the first tensor whose name or shape differs."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{source} does not fit this model: missing {missing[:5]}, unexpected {unexpected[:5]}; "
            f"build the model from the checkpoint's own config.json"
        )
    for name, shape in expected.items():
        if tuple(found[name]) != tuple(shape):
            raise CheckpointError(
                f"{source}: tensor {name!r} has shape {tuple(found[name])}, this model expects "
                f"{tuple(shape)}; build the model from the checkpoint's own config.json"
            )


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
