"""Checkpoints both packages read: a folder holding ``config.json`` and ``model.safetensors``.

The tensors are numpy arrays keyed by name; the configuration is JSON. Training state (the
optimizer's moments, the step, the random generator) goes in further ``<name>.safetensors``
and ``<name>.json`` pairs in the same folder, so one format serves microgpt (JAX) and babygpt
(PyTorch) alike.

Writing is atomic and keeps whatever else the folder holds. The new files are written into
``.saving/``, a folder of the course's own inside the target, and made durable with fsync; the
list of them, ``.saving/.checkpoint.json``, written last (by a rename), is the moment the new
checkpoint exists. Only then are they renamed into place and the previous checkpoint's files that
the new one lacks deleted. The checkpoint's files are ``config.json``, ``model.safetensors`` and
each ``<name>.safetensors`` that has its ``<name>.json``: a ``notes.txt`` beside them, or any
other file, stays. An interruption before the commit leaves the old checkpoint untouched; one
after it leaves the new one, which :func:`load_checkpoint` reads from wherever its files are and
the next :func:`save_checkpoint` finishes moving.
"""

import json
import os
import shutil
from dataclasses import MISSING, fields
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
STAGING = ".saving"  # inside the checkpoint's folder: the next checkpoint while it is written
MANIFEST_FILE = ".checkpoint.json"  # in STAGING: the new and the old checkpoint's file names, the commit point


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, or does not fit the model it is loaded into."""


def save_checkpoint(folder, tensors: dict, config: dict, extra: dict | None = None) -> Path:
    """Write ``tensors`` (name -> numpy array) and ``config`` to ``folder`` atomically.

    ``extra`` maps a part name (e.g. ``"optimizer"``) to a ``(tensors, json_data)`` pair saved as
    ``<name>.safetensors`` and ``<name>.json`` (``null`` for None). Files in ``folder`` that are
    not a checkpoint's are kept. Returns the folder's path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _finish_interrupted_save(folder)
    staging = folder / STAGING
    staging.mkdir()
    try:
        names = [CONFIG_FILE]
        for name, (part_tensors, part_json) in {"model": (tensors, None), **(extra or {})}.items():
            arrays = {key: np.ascontiguousarray(np.asarray(value)) for key, value in part_tensors.items()}
            save_file(arrays, staging / f"{name}.safetensors")
            names.append(f"{name}.safetensors")
            if name != "model":  # a part is a pair of files: that is how a later save knows its own
                _write_json(staging / f"{name}.json", part_json)
                names.append(f"{name}.json")
        _write_json(staging / CONFIG_FILE, config)
        for name in names:
            _fsync(staging / name)
        # The commit point: once the lists of files are in place, the new checkpoint exists.
        manifest = {"files": sorted(names), "replaces": _checkpoint_files(folder)}
        _write_json(staging / f"{MANIFEST_FILE}.tmp", manifest)
        _fsync(staging / f"{MANIFEST_FILE}.tmp")
        os.replace(staging / f"{MANIFEST_FILE}.tmp", staging / MANIFEST_FILE)
        _fsync(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # nothing was committed: the old checkpoint is as it was
        raise
    _move_into_place(folder)
    return folder


def _finish_interrupted_save(folder: Path) -> None:
    """Complete a save that was interrupted after its commit point; drop one interrupted before it."""
    staging = folder / STAGING
    if (staging / MANIFEST_FILE).exists():
        _move_into_place(folder)
    elif staging.exists():
        shutil.rmtree(staging)


def _move_into_place(folder: Path) -> None:
    """Rename the committed files of ``.saving/`` into ``folder``, then delete the old checkpoint's
    files the new one does not have. Safe to run again after an interruption at any step."""
    staging = folder / STAGING
    new, old = _manifest(staging), _manifest(staging, "replaces")
    for name in new:
        if (staging / name).exists():
            os.replace(staging / name, folder / name)
    _fsync(folder)
    for name in sorted(set(old) - set(new)):
        (folder / name).unlink(missing_ok=True)
    _fsync(folder)
    (staging / MANIFEST_FILE).unlink()
    staging.rmdir()


def _manifest(where: Path, key: str = "files") -> list[str]:
    """The names an interrupted save listed: the new checkpoint's ``files``, or the old one's it ``replaces``."""
    try:
        return json.loads((where / MANIFEST_FILE).read_text(encoding="utf-8"))[key]
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"{where / MANIFEST_FILE}, the list of an interrupted save's files, is damaged ({error!r}): "
            f"delete {where} to go back to the previous checkpoint"
        ) from error


def _checkpoint_files(folder: Path) -> list[str]:
    """The names of the files that make up the checkpoint in ``folder`` (none for a folder without one):
    config.json, model.safetensors and each ``<part>.safetensors`` that has its ``<part>.json``."""
    if not (folder / CONFIG_FILE).exists():
        return []
    names = [CONFIG_FILE, MODEL_FILE]
    for path in sorted(folder.glob("*.safetensors")):
        if path.name != MODEL_FILE and path.with_suffix(".json").exists():
            names += [path.name, path.with_suffix(".json").name]
    return names


def _checkpoint_paths(folder: Path) -> dict[str, Path]:
    """Each file of the checkpoint in ``folder`` -> where to read it from.

    After a save interrupted past its commit point, the new checkpoint's files lie partly in
    ``.saving/`` and partly already in ``folder``.
    """
    staging = folder / STAGING
    if (staging / MANIFEST_FILE).exists():
        return {name: staging / name if (staging / name).exists() else folder / name for name in _manifest(staging)}
    return {name: folder / name for name in _checkpoint_files(folder)}


def load_checkpoint(folder, parts: tuple[str, ...] = ()) -> tuple[dict, dict, dict]:
    """Read a checkpoint: ``(tensors, config, extra)``, extra[name] = (tensors, json or None).

    A missing, truncated or corrupt file raises a CheckpointError that names it.
    """
    folder = Path(folder)
    paths = _checkpoint_paths(folder)
    if CONFIG_FILE not in paths:
        raise CheckpointError(
            f"no checkpoint at {folder}: expected {folder / CONFIG_FILE} and {folder / MODEL_FILE}; "
            f"pass the folder that save_checkpoint wrote"
        )
    config = _read_json(paths[CONFIG_FILE], folder)
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{folder / CONFIG_FILE} holds a JSON {type(config).__name__}, not an object of configuration "
            f"fields: {RECOVER.format(folder=folder)}"
        )
    tensors = _read_tensors(paths.get(MODEL_FILE, folder / MODEL_FILE), folder)
    extra = {}
    for name in parts:
        if f"{name}.safetensors" not in paths:
            raise CheckpointError(f"checkpoint {folder} has no {name!r} part: it was saved without it")
        part_json = paths.get(f"{name}.json")
        extra[name] = (
            _read_tensors(paths[f"{name}.safetensors"], folder),
            None if part_json is None else _read_json(part_json, folder),
        )
    return tensors, config, extra


RECOVER = "re-save the checkpoint from the model that wrote it, or delete the folder {folder} and train again"


def _missing(path: Path, folder: Path) -> str:
    return f"{path} is missing: the checkpoint is incomplete; {RECOVER.format(folder=folder)}"


def _read_json(path: Path, folder: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(_missing(path, folder)) from None
    except ValueError as error:  # json's JSONDecodeError, or bytes that are not UTF-8
        raise CheckpointError(
            f"{path} is not valid JSON ({error}): it was truncated or corrupted, e.g. by an interrupted copy; "
            f"{RECOVER.format(folder=folder)}"
        ) from error


def _read_tensors(path: Path, folder: Path) -> dict:
    try:
        return load_file(path)
    except FileNotFoundError:
        raise CheckpointError(_missing(path, folder)) from None
    except SafetensorError as error:
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({error}): it was truncated or corrupted, e.g. by an "
            f"interrupted copy; {RECOVER.format(folder=folder)}"
        ) from error


def config_from_fields(config_class, data: dict, source):
    """``config_class(**fields)`` from a config.json's data, other keys ignored.

    A field the class needs that the file lacks, or a value the class refuses, raises a
    CheckpointError naming ``source`` (the file) instead of a TypeError from the constructor.
    """
    names = [f.name for f in fields(config_class)]
    missing = [f.name for f in fields(config_class)
               if f.name not in data and f.default is MISSING and f.default_factory is MISSING]
    folder = Path(source).parent
    if missing:
        raise CheckpointError(
            f"{source} has no {', '.join(missing)}, which a {config_class.__name__} needs: the file is incomplete "
            f"or was edited; {RECOVER.format(folder=folder)}"
        )
    try:
        return config_class(**{name: data[name] for name in names if name in data})
    except (TypeError, ValueError) as error:
        raise CheckpointError(
            f"{source} does not describe a valid {config_class.__name__}: {error}; {RECOVER.format(folder=folder)}"
        ) from error


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
