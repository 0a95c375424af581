"""Read and overwrite any activation of a babygpt GPT or LLaMA by name, with PyTorch's own
module hooks: the models' code is not copied, and without hooks it runs as it always does.

The names (TransformerLens's, shortened), for block ``i``:

* ``embed`` (batch, seq, d_model), and ``pos_embed`` (seq, d_model) where the model has a
  position table;
* ``blocks.i.resid_pre`` and ``blocks.i.resid_post``: the residual stream before and after
  block i, (batch, seq, d_model);
* ``blocks.i.attn.pattern``: the attention weights, (batch, n_head, seq_q, seq_k);
* ``blocks.i.attn.z``: each head's output before the output projection mixes the heads,
  (batch, seq, n_head, d_head); head h writes ``z[..., h, :] @ W_O[h]`` into the stream;
* ``blocks.i.attn_out`` and ``blocks.i.mlp_out``: what attention and the MLP add to the stream;
* ``blocks.i.mlp.post``: the MLP's hidden activations, the input of its second matrix,
  (batch, seq, d_mlp).

A hook is a function ``hook(activation) -> activation``: what it returns replaces the
activation (returning its input, or None, changes nothing). The fused attention of the models
never forms the pattern, so the ``attn.pattern`` hook computes it from the attention's own
query and key projections; when that hook returns a new pattern, the heads' outputs are
recomputed from it (``pattern @ v``).
"""

from contextlib import contextmanager

import torch

from ..attention import merge_heads, scaled_dot_product_attention
from ..llama import Llama, apply_rope
from ..model import GPT


def _parts(model) -> dict:
    """The modules each name hangs on: embeddings, blocks, and per block its attention, output
    projection, MLP and MLP output matrix."""
    if isinstance(model, GPT):
        return {"embed": model.tok_emb, "pos_embed": model.pos_emb, "blocks": model.blocks,
                "attn": "attn", "proj": "proj", "mlp": "mlp", "mlp_proj": "proj"}
    if isinstance(model, Llama):
        return {"embed": model.tok_embeddings, "pos_embed": getattr(model, "pos_embeddings", None),
                "blocks": model.layers, "attn": "attention", "proj": "wo", "mlp": "feed_forward",
                "mlp_proj": "w2"}
    raise TypeError(f"hooks know babygpt's GPT and Llama, not a {type(model).__name__}")


def hook_names(model) -> list[str]:
    """Every activation name of this model, in the order the forward pass computes them."""
    parts = _parts(model)
    names = ["embed"] + (["pos_embed"] if parts["pos_embed"] is not None else [])
    for i, block in enumerate(parts["blocks"]):
        mlp = ["mlp.post"] if hasattr(getattr(block, parts["mlp"]), parts["mlp_proj"]) else []
        names += [f"blocks.{i}.{n}" for n in ("resid_pre", "attn.pattern", "attn.z", "attn_out", *mlp,
                                              "mlp_out", "resid_post")]
    return names


def check_hook_names(model, names) -> None:
    """Raise KeyError for a name the model does not have, listing the ones it has."""
    valid = hook_names(model)
    for name in names:
        if name not in valid:
            raise KeyError(f"unknown hook name {name!r}: this model's hook names are {valid}")


def queries_keys_values(model, attn, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The queries, keys and values (batch, n_head, seq, d_head) that attention module ``attn``
    of ``model`` computes from its input x (batch, seq, d_model), at positions 0 .. seq - 1:
    the first lines of its forward, written with its own layers (keys and values repeated for
    every query head of a grouped LLaMA)."""
    batch, seq, d = x.shape
    if isinstance(model, GPT):
        heads = (t.view(batch, seq, attn.n_head, -1).transpose(1, 2) for t in attn.qkv(x).split(d, dim=2))
        return tuple(heads)
    q, k, v = (layer(x).view(batch, seq, -1, attn.head_dim).transpose(1, 2) for layer in (attn.wq, attn.wk, attn.wv))
    if model.rope_cache is not None:
        q, k = apply_rope(q, model.rope_cache), apply_rope(k, model.rope_cache)
    groups = attn.n_head // attn.n_kv_head
    return q, k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)


def _replace(hook, value):
    out = hook(value)
    return value if out is None else out


@contextmanager
def hooked(model, hooks: dict):
    """Inside the ``with`` block, ``model`` runs with ``hooks`` ({name: hook}) in place; they are
    removed on the way out, whatever happens. The model must be in eval mode (dropout would
    make the pattern the hook sees differ from the one the model uses)."""
    check_hook_names(model, hooks)
    if model.training:
        raise RuntimeError("hooks read a model in eval mode: call model.eval() first")
    parts, handles = _parts(model), []

    def forward_hook(module, name):
        handles.append(module.register_forward_hook(lambda m, args, out: _replace(hooks[name], out)))

    def input_hook(module, name, reshape=None):
        def hook(m, args):
            x = args[0]
            if reshape is None:
                return (_replace(hooks[name], x), *args[1:])
            return (_replace(hooks[name], x.view(*x.shape[:2], *reshape)).flatten(2), *args[1:])
        handles.append(module.register_forward_pre_hook(hook))

    try:
        for name in ("embed", "pos_embed"):
            if name in hooks:
                forward_hook(parts[name], name)
        for i, block in enumerate(parts["blocks"]):
            attn, mlp = getattr(block, parts["attn"]), getattr(block, parts["mlp"])
            here = {n.split(".", 2)[2]: n for n in hooks if n.startswith(f"blocks.{i}.")}
            if "resid_pre" in here:
                input_hook(block, here["resid_pre"])
            if "attn.pattern" in here:
                _hook_pattern(model, attn, getattr(attn, parts["proj"]), hooks[here["attn.pattern"]], handles)
            if "attn.z" in here:
                input_hook(getattr(attn, parts["proj"]), here["attn.z"], (attn.n_head, -1))
            if "mlp.post" in here:
                input_hook(getattr(mlp, parts["mlp_proj"]), here["mlp.post"])
            for key, module in (("attn_out", attn), ("mlp_out", mlp), ("resid_post", block)):
                if key in here:
                    forward_hook(module, here[key])
        yield model
    finally:
        for handle in handles:
            handle.remove()


def _hook_pattern(model, attn, proj, hook, handles) -> None:
    """Show ``hook`` the pattern of ``attn``; if it returns a new one, feed ``proj`` (the output
    projection) the heads' outputs recomputed from it."""
    replaced = {}

    def before_attention(module, args):
        q, k, v = queries_keys_values(model, module, args[0])
        _, pattern = scaled_dot_product_attention(q, k, v, causal=True, return_weights=True)
        new = _replace(hook, pattern)
        if new is not pattern:
            replaced["z"] = merge_heads(new @ v)

    def before_projection(module, args):
        if "z" in replaced:
            return (replaced.pop("z"), *args[1:])

    handles.append(attn.register_forward_pre_hook(before_attention))
    handles.append(proj.register_forward_pre_hook(before_projection))


def run_with_hooks(model, ids: torch.Tensor, hooks: dict) -> torch.Tensor:
    """The logits (batch, seq, vocab) of ``model`` on ids (batch, seq) with ``hooks`` in place."""
    with hooked(model, hooks):
        return model(ids)


def run_with_cache(model, ids: torch.Tensor, names=None) -> tuple[torch.Tensor, dict]:
    """The logits and a dict {name: activation} of the ``names`` asked for (default: all)."""
    names = hook_names(model) if names is None else list(names)
    cache = {}

    def store(name):
        def hook(x):
            cache[name] = x.detach().clone()
        return hook

    logits = run_with_hooks(model, ids, {name: store(name) for name in names})
    return logits, cache
