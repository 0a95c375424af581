"""microgpt checkpoints in the course's shared format (``lmbase.checkpoint``): a folder with
``config.json`` and ``model.safetensors``, readable without JAX (babygpt loads them in PyTorch).

``config.json`` is self-describing::

    {"model_type": "microgpt", "format_version": 1,
     "vocab_size": 65, "context": 256, "n_layer": 6, "n_head": 6, "d_model": 384,
     "block": "pre_norm", "final_norm": true, "ln_eps": 1e-05, "ln_eps_inside_sqrt": true,
     "shared_block_init": false, "dropout": 0.2, "init_std": 0.02,
     "tokenizer": {"type": "char", "chars": "..."}}     # when a tokenizer is saved

``model.safetensors`` holds float32 tensors named as ``model.py``'s docstring lists them
(``embed``, ``blocks.0.attn.w_q``, ... ``ln_f.scale``): the parameter tree flattened with dots.
Matrices are ``(in, out)`` and applied as ``x @ W``. A training checkpoint adds the optimizer
state (``optimizer.safetensors``, named by its pytree path) and ``optimizer.json`` (the step,
the batch sampler's random state, the run's configuration), so training resumes exactly.
"""

from dataclasses import fields
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lmbase.checkpoint import CONFIG_FILE, CheckpointError, check_shapes, load_checkpoint, save_checkpoint

from lmbase.microgpt_config import GPTConfig, config_from_json, config_to_json  # noqa: F401 (re-exported)

from .model import init_params


def named_leaves(tree, prefix: str = "") -> dict:
    """``{"blocks": [{"attn": {"w_q": a}}]}`` -> ``{"blocks.0.attn.w_q": a}``, the leaves as they are."""
    flat = {}
    items = tree.items() if isinstance(tree, dict) else enumerate(tree)
    for name, value in items:
        if isinstance(value, (dict, list, tuple)):
            flat.update(named_leaves(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def flatten_params(params: dict) -> dict:
    """The parameter tree by dotted name (:func:`named_leaves`), as float32 numpy arrays."""
    return {name: np.asarray(value, dtype=np.float32) for name, value in named_leaves(params).items()}


def unflatten_params(flat: dict, config: GPTConfig) -> dict:
    """Rebuild the parameter tree of ``config`` from dotted names; errors name a missing tensor."""
    template = jax.eval_shape(lambda: init_params(config))
    expected = {name: shape.shape for name, shape in named_leaves(template).items()}
    check_shapes(expected, {name: np.shape(v) for name, v in flat.items()}, "this checkpoint")

    def build(node, prefix):
        if isinstance(node, dict):
            return {k: build(v, f"{prefix}{k}.") for k, v in node.items()}
        if isinstance(node, list):
            return [build(v, f"{prefix}{i}.") for i, v in enumerate(node)]
        return jnp.asarray(flat[prefix[:-1]], dtype=jnp.float32)  # float16 files compute in float32

    return build(template, "")


def save(folder, params: dict, config: GPTConfig, *, tokenizer_chars: str | None = None,
         optimizer_state=None, train_state: dict | None = None):
    """Write a checkpoint atomically. ``optimizer_state`` and ``train_state`` make it resumable."""
    extra = {}
    if optimizer_state is not None:
        extra["optimizer"] = (flatten_tree_by_path(optimizer_state), train_state or {})
    return save_checkpoint(folder, flatten_params(params), config_to_json(config, tokenizer_chars), extra)


def load(folder, expected: GPTConfig | None = None):
    """``(params, config, config_json)`` from a checkpoint folder.

    With ``expected``, a checkpoint of another architecture raises CheckpointError naming the
    first field that differs.
    """
    tensors, data, _ = load_checkpoint(folder)
    config = config_from_json(data, Path(folder) / CONFIG_FILE)
    if expected is not None and config != expected:
        diff = [f.name for f in fields(GPTConfig) if getattr(config, f.name) != getattr(expected, f.name)]
        name = diff[0]
        raise CheckpointError(
            f"checkpoint {folder} was saved with {name}={getattr(config, name)!r}, this model has "
            f"{name}={getattr(expected, name)!r}: build the model from the checkpoint's own config.json"
        )
    return unflatten_params(tensors, config), config, data


def read_training_state(folder) -> tuple[dict, dict]:
    """``(optimizer tensors by path, JSON training state)`` as saved: the state is read before the
    optimizer it belongs to is built (a resumed run checks its settings against the saved ones)."""
    _, _, extra = load_checkpoint(folder, parts=("optimizer",))
    return extra["optimizer"]


def load_training_state(folder, optimizer_template):
    """The optimizer state (shaped like ``optimizer_template``) and the JSON training state."""
    tensors, train_state = read_training_state(folder)
    return unflatten_tree_by_path(tensors, optimizer_template), train_state


def flatten_tree_by_path(tree) -> dict:
    """Any pytree (an optax state) -> ``{path string: numpy array}``."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def unflatten_tree_by_path(flat: dict, template):
    """Inverse of :func:`flatten_tree_by_path`, shaped and typed like ``template``."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for path, leaf in paths:
        name = jax.tree_util.keystr(path)
        if name not in flat:
            raise CheckpointError(f"optimizer state {name} is missing: the checkpoint is from another optimizer")
        found = flat[name]
        # lmbase stores a 0-d array as shape (1,) (numpy's ascontiguousarray): compare sizes
        if found.size != np.size(leaf) or (found.ndim > 1 and found.shape != np.shape(leaf)):
            raise CheckpointError(f"optimizer state {name} has shape {found.shape}, expected {np.shape(leaf)}")
        leaves.append(jnp.asarray(found.reshape(np.shape(leaf)), dtype=leaf.dtype))
    return jax.tree_util.tree_unflatten(treedef, leaves)
