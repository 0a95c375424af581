"""LLaMA checkpoints in two real formats: Karpathy's llama2.c ``.bin`` and Hugging Face's
safetensors + ``config.json``, read into and written from :class:`babygpt.llama.Llama`.

**llama2.c** (``export.py`` writes it, ``run.c`` reads it). Little-endian float32 throughout.

* Version 0, the "legacy" format of the TinyStories checkpoints (``stories15M.bin`` ...): seven
  int32 ``dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len`` (``vocab_size``
  negative when the output matrix is not the token embedding), then ``tok_embeddings``, every
  layer's ``attention_norm``, then every layer's ``wq``, ``wk``, ``wv``, ``wo``, ``ffn_norm``,
  ``w1``, ``w2``, ``w3`` (each group for all layers before the next), ``norm``, the RoPE tables
  ``freq_cis_real`` and ``freq_cis_imag`` (seq_len, head_dim/2), and ``output`` if not shared.
* Version 1: uint32 magic ``0x616b3432`` ("ak42"), int32 version 1, the same seven int32 (all
  positive), a uint8 "shared classifier" flag, zeros up to byte 256, then the norms (attention
  norms, ffn norms, final norm), ``tok_embeddings``, ``wq wk wv wo w1 w2 w3`` and ``output``
  if not shared.
* Version 2, llama2.c's "Q8_0" (``export.py --version 2``, read by ``runq.c``): the version 1 header
  followed by an int32 group size (64 by default), zeros up to byte 256, the norms as float32,
  then each matrix of version 1's order (``tok_embeddings``, ``wq`` ... ``w3``, ``output``) as int8
  codes followed by float32 scales, one per group of ``group_size`` consecutive weights of a row
  (symmetric, ``scale = max|w| / 127``: :func:`babygpt.quant.quantize_int8`).

Matrices are in ``nn.Linear``'s (out, in) layout and use Meta's RoPE channel order, the one
:mod:`babygpt.llama` uses, so they load as they are.

**Hugging Face** (``LlamaForCausalLM.save_pretrained``): ``model.safetensors`` (or shards listed in
``model.safetensors.index.json``) under the names ``model.layers.N.self_attn.q_proj.weight`` ...,
and a ``config.json``. Hugging Face rotates channel ``i`` with ``i + head_dim/2`` instead of
``2i`` with ``2i+1``, so its conversion script permutes the rows of ``wq`` and ``wk`` within each
head; :func:`meta_to_hf_rows` and :func:`hf_to_meta_rows` do the same here, and the logits agree.
"""

import json
import struct
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from safetensors.torch import load_file as load_torch_file

from lmbase.checkpoint import CheckpointError, check_shapes
from lmbase.download import RemoteFile, fetch

from .llama import Llama, LlamaConfig, build_rope_cache
from .quant.int8_matmul import quantize_int8

# Karpathy's TinyStories model of 15M parameters (the seed README's "15M" link) and the LLaMA 2
# SentencePiece tokenizer in llama2.c's tokenizer.bin format, checked by size and sha256.
LLAMA2C_FILES = {
    "stories15m": RemoteFile(
        relpath="tinyllamas/stories15M.bin",
        url="https://huggingface.co/karpathy/tinyllamas/resolve/main/stories15M.bin",
        sha256="cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a",
        size=60_816_028,
    ),
    "tokenizer": RemoteFile(
        relpath="tinyllamas/tokenizer.bin",
        url="https://github.com/karpathy/llama2.c/raw/master/tokenizer.bin",
        sha256="50a52ef822ee9e83de5ce9d0be0a025a773d019437f58b5ff9dcafb063ece361",
        size=433_869,
    ),
}

LLAMA2C_MAGIC = 0x616B3432
LLAMA2C_V1_HEADER_BYTES = 256


def _require_plain_llama(config: LlamaConfig, fmt: str) -> None:
    extras = [name for name in ("bias", "head_bias", "learned_positions") if getattr(config, name)]
    if extras or not config.rope:
        raise ValueError(
            f"the {fmt} format stores a plain LLaMA; this configuration has "
            f"{', '.join(extras + ([] if config.rope else ['rope=False']))}: save it with babygpt's own "
            f"checkpoint format instead"
        )


def _layer_groups(config: LlamaConfig) -> dict:
    """Per-layer tensor names of llama2.c's groups, with their shapes."""
    d, h, kv = config.d_model, config.hidden_dim, config.n_kv_head * config.head_dim
    return {
        "attention_norm.weight": (d,),
        "attention.wq.weight": (d, d),
        "attention.wk.weight": (kv, d),
        "attention.wv.weight": (kv, d),
        "attention.wo.weight": (d, d),
        "ffn_norm.weight": (d,),
        "feed_forward.w1.weight": (h, d),
        "feed_forward.w2.weight": (d, h),
        "feed_forward.w3.weight": (h, d),
    }


def _llama2c_order(config: LlamaConfig, version: int, shared: bool) -> list[tuple[str, tuple]]:
    """(name, shape) of every array in a llama2.c file, in file order."""
    groups = _layer_groups(config)

    def per_layer(key):
        return [(f"layers.{i}.{key}", groups[key]) for i in range(config.n_layer)]

    d, v, half = config.d_model, config.vocab_size, config.head_dim // 2
    if version == 0:
        order = [("tok_embeddings.weight", (v, d))]
        for key in ("attention_norm.weight", "attention.wq.weight", "attention.wk.weight", "attention.wv.weight",
                    "attention.wo.weight", "ffn_norm.weight", "feed_forward.w1.weight", "feed_forward.w2.weight",
                    "feed_forward.w3.weight"):
            order += per_layer(key)
        order += [("norm.weight", (d,)), ("freq_cis_real", (config.context, half)),
                  ("freq_cis_imag", (config.context, half))]
    else:
        order = per_layer("attention_norm.weight") + per_layer("ffn_norm.weight")
        order += [("norm.weight", (d,)), ("tok_embeddings.weight", (v, d))]
        for key in ("attention.wq.weight", "attention.wk.weight", "attention.wv.weight", "attention.wo.weight",
                    "feed_forward.w1.weight", "feed_forward.w2.weight", "feed_forward.w3.weight"):
            order += per_layer(key)
    if not shared:
        order.append(("output.weight", (v, d)))
    return order


def save_llama2c(model: Llama, path, version: int = 0, group_size: int | None = None) -> Path:
    """Write ``model`` as a llama2.c checkpoint: version 0 (the TinyStories files' format), 1, or
    2 (Q8_0: int8 matrices with a scale per ``group_size`` weights, 64 unless given)."""
    config = model.config
    _require_plain_llama(config, "llama2.c")
    if config.rope_theta != 10000.0 or config.norm_eps != 1e-5:
        raise ValueError(
            f"llama2.c's run.c hard-codes RoPE base 10000 and RMSNorm eps 1e-5; this model has "
            f"rope_theta={config.rope_theta}, norm_eps={config.norm_eps}: save it with save_hf instead"
        )
    if version not in (0, 1, 2):
        raise ValueError(f"llama2.c version {version} is not supported: use 0 (legacy), 1 or 2 (Q8_0)")
    if group_size is not None and version != 2:
        raise ValueError(f"group_size={group_size} only applies to version 2 (Q8_0); version {version} "
                         f"stores float32: drop group_size or pass version=2")
    group_size = 64 if group_size is None else group_size
    shared = model.output.weight is model.tok_embeddings.weight
    tensors = {name: p.detach().float().cpu() for name, p in model.named_parameters()}
    rope = build_rope_cache(config.context, config.head_dim, config.rope_theta)
    tensors["freq_cis_real"], tensors["freq_cis_imag"] = rope[..., 0], rope[..., 1]
    dims = (config.d_model, config.hidden_dim, config.n_layer, config.n_head, config.n_kv_head)
    path = Path(path)
    with open(path, "wb") as f:
        if version == 0:
            vocab = config.vocab_size if shared else -config.vocab_size
            f.write(struct.pack("<7i", *dims, vocab, config.context))
        else:
            f.write(struct.pack("<Ii", LLAMA2C_MAGIC, version))
            f.write(struct.pack("<7i", *dims, config.vocab_size, config.context))
            f.write(struct.pack("<B", int(shared)))
            if version == 2:
                f.write(struct.pack("<i", group_size))
            f.write(b"\0" * (LLAMA2C_V1_HEADER_BYTES - f.tell()))
        for name, _ in _llama2c_order(config, min(version, 1), shared):
            tensor = tensors[name]
            if version == 2 and tensor.ndim == 2:
                codes, scales = quantize_int8(tensor, group_size)
                f.write(codes.numpy().tobytes())
                tensor = scales
            f.write(np.ascontiguousarray(tensor.numpy(), dtype="<f4").tobytes())
    return path


def _stored_bytes(shape: tuple, version: int, group_size: int) -> int:
    """Bytes one array takes in a llama2.c file: float32, or in version 2 a matrix's int8 codes
    and float32 group scales."""
    count = int(np.prod(shape))
    if version == 2 and len(shape) == 2:
        return count + 4 * (count // group_size)
    return 4 * count


def read_llama2c(path) -> tuple[LlamaConfig, dict, int]:
    """``(config, tensors, version)`` of a llama2.c checkpoint; tensors are float32 numpy arrays
    (a version 2 file's matrices dequantized: codes × their group's scale)."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 28:
        raise CheckpointError(f"{path} has {len(data)} bytes, too few for a llama2.c header (28 bytes)")
    group_size = 0
    if struct.unpack_from("<I", data, 0)[0] == LLAMA2C_MAGIC:
        version = struct.unpack_from("<i", data, 4)[0]
        if version not in (1, 2):
            raise CheckpointError(
                f"{path} is a llama2.c version {version} file; this reader knows versions 0, 1 (float32) "
                f"and 2 (Q8_0). Export it again with llama2.c's export.py --version 1"
            )
        dim, hidden, n_layer, n_head, n_kv, vocab, seq = struct.unpack_from("<7i", data, 8)
        shared = bool(data[36])
        if version == 2:
            group_size = struct.unpack_from("<i", data, 37)[0]
        offset = LLAMA2C_V1_HEADER_BYTES
    else:
        version = 0
        dim, hidden, n_layer, n_head, n_kv, vocab, seq = struct.unpack_from("<7i", data, 0)
        shared, vocab = vocab > 0, abs(vocab)
        offset = 28
    try:
        config = LlamaConfig(vocab_size=vocab, context=seq, n_layer=n_layer, n_head=n_head, n_kv_head=n_kv,
                             d_model=dim, hidden_dim=hidden, tie_embeddings=shared)
    except ValueError as error:
        raise CheckpointError(f"{path}: its header describes no valid LLaMA ({error})") from None
    if version == 2 and (group_size < 1 or dim % group_size or hidden % group_size):
        raise CheckpointError(f"{path}: group size {group_size} does not divide dim={dim} and "
                              f"hidden_dim={hidden}, as llama2.c's Q8_0 needs")
    order = _llama2c_order(config, min(version, 1), shared)
    expected = offset + sum(_stored_bytes(shape, version, group_size) for _, shape in order)
    if len(data) != expected:
        raise CheckpointError(
            f"{path} has {len(data):,} bytes but its header (dim={dim}, hidden_dim={hidden}, n_layers={n_layer}, "
            f"n_heads={n_head}, n_kv_heads={n_kv}, vocab_size={vocab}, seq_len={seq}, version {version}) "
            f"needs {expected:,}: the file is truncated or not a llama2.c "
            f"{'Q8_0' if version == 2 else 'float32'} checkpoint"
        )
    tensors = {}
    for name, shape in order:
        count = int(np.prod(shape))
        if version == 2 and len(shape) == 2:
            codes = np.frombuffer(data, dtype=np.int8, count=count, offset=offset)
            scales = np.frombuffer(data, dtype="<f4", count=count // group_size, offset=offset + count)
            values = codes.reshape(-1, group_size) * scales[:, None]
            tensors[name] = values.reshape(shape).astype(np.float32)
        else:
            tensors[name] = np.frombuffer(data, dtype="<f4", count=count, offset=offset).reshape(shape).copy()
        offset += _stored_bytes(shape, version, group_size)
    return config, tensors, version


def fetch_llama2c_file(name: str) -> Path:
    """The local path of one of ``LLAMA2C_FILES`` (downloaded once, verified by sha256; raises
    lmbase.download.DataFileError offline, naming where to put the file)."""
    if name not in LLAMA2C_FILES:
        raise KeyError(f"unknown llama2.c file {name!r}: the known ones are {sorted(LLAMA2C_FILES)}")
    return fetch(LLAMA2C_FILES[name])


def load_llama2c(path) -> Llama:
    """A :class:`Llama` holding a llama2.c checkpoint's weights (its configuration from the header).

    In a version 0 file the stored RoPE tables must equal the ones this model builds.
    """
    config, tensors, _ = read_llama2c(path)
    if "freq_cis_real" in tensors:
        rope = build_rope_cache(config.context, config.head_dim, config.rope_theta).numpy()
        stored = np.stack([tensors.pop("freq_cis_real"), tensors.pop("freq_cis_imag")], axis=-1)
        gap = float(np.abs(stored - rope).max())
        if gap > 1e-4:
            raise CheckpointError(
                f"{path}: its RoPE tables differ from cos/sin(position · 10000^(-2i/head_dim)) by {gap:.2g}; "
                f"it was trained with another RoPE base, which this reader cannot tell from the file"
            )
    model = _empty_llama(config)
    load_llama_tensors(model, tensors, str(path))
    return model


def _empty_llama(config: LlamaConfig) -> Llama:
    """A Llama with uninitialised weights (no time spent on random numbers about to be overwritten)."""
    with torch.device("meta"):
        model = Llama(config)
    model = model.to_empty(device="cpu")
    if config.tie_embeddings:  # to_empty gives each module its own tensor: tie them again
        model.output.weight = model.tok_embeddings.weight
    model.rope_cache = build_rope_cache(config.context, config.head_dim, config.rope_theta) if config.rope else None
    return model


def load_llama_tensors(model: Llama, tensors: dict, source: str = "the checkpoint") -> None:
    """Copy float32 arrays named like ``model.named_parameters()`` into ``model``; names and shapes must match."""
    params = dict(model.named_parameters())
    check_shapes({n: tuple(p.shape) for n, p in params.items()}, {n: t.shape for n, t in tensors.items()}, source)
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(torch.from_numpy(np.asarray(tensors[name], dtype=np.float32)))


# ---- Hugging Face ----------------------------------------------------------------------------

def meta_to_hf_rows(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Reorder the rows of a q or k projection (n_heads·head_dim, d) from Meta's RoPE pairs
    (2i, 2i+1) to Hugging Face's (i, i + head_dim/2), head by head (HF's ``permute``)."""
    rows, cols = weight.shape
    return weight.view(n_heads, rows // n_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def hf_to_meta_rows(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The inverse of :func:`meta_to_hf_rows`."""
    rows, cols = weight.shape
    return weight.view(n_heads, 2, rows // n_heads // 2, cols).transpose(1, 2).reshape(rows, cols)


_HF_LAYER_NAMES = {
    "attention_norm.weight": "input_layernorm.weight",
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
}


def hf_name(name: str) -> str:
    """Hugging Face's name of one of our parameters, e.g. layers.0.attention.wq.weight ->
    model.layers.0.self_attn.q_proj.weight."""
    if name.startswith("layers."):
        _, index, rest = name.split(".", 2)
        return f"model.layers.{index}.{_HF_LAYER_NAMES[rest]}"
    return {"tok_embeddings.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
            "output.weight": "lm_head.weight"}[name]


def hf_config(config: LlamaConfig) -> dict:
    """The ``config.json`` of ``LlamaForCausalLM`` for this configuration."""
    _require_plain_llama(config, "Hugging Face LLaMA")
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": config.vocab_size,
        "hidden_size": config.d_model,
        "intermediate_size": config.hidden_dim,
        "num_hidden_layers": config.n_layer,
        "num_attention_heads": config.n_head,
        "num_key_value_heads": config.n_kv_head,
        "head_dim": config.head_dim,
        "max_position_embeddings": config.context,
        "rms_norm_eps": config.norm_eps,
        "rope_theta": config.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": config.tie_embeddings,
        "torch_dtype": "float32",
    }


def config_from_hf(hf: dict, source: str = "config.json") -> LlamaConfig:
    """The LlamaConfig a Hugging Face LLaMA ``config.json`` describes (default RoPE, SiLU, no biases)."""
    if hf.get("model_type") != "llama":
        raise CheckpointError(f"{source} has model_type {hf.get('model_type')!r}, not 'llama'")
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise CheckpointError(f"{source} uses RoPE scaling {rope_type!r}; babygpt's LLaMA has plain RoPE only")
    if hf.get("hidden_act", "silu") != "silu" or hf.get("attention_bias") or hf.get("mlp_bias"):
        raise CheckpointError(f"{source}: babygpt's LLaMA needs hidden_act 'silu' and no biases")
    head_dim = hf.get("head_dim") or hf["hidden_size"] // hf["num_attention_heads"]
    if head_dim * hf["num_attention_heads"] != hf["hidden_size"]:
        raise CheckpointError(f"{source}: head_dim {head_dim} × {hf['num_attention_heads']} heads ≠ hidden_size")
    return LlamaConfig(
        vocab_size=hf["vocab_size"], context=hf["max_position_embeddings"], n_layer=hf["num_hidden_layers"],
        n_head=hf["num_attention_heads"], n_kv_head=hf.get("num_key_value_heads") or hf["num_attention_heads"],
        d_model=hf["hidden_size"], hidden_dim=hf["intermediate_size"], norm_eps=hf["rms_norm_eps"],
        rope_theta=float(rope.get("rope_theta", hf.get("rope_theta", 10000.0))),
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
    )


def hf_state_dict(model: Llama) -> dict:
    """Our weights under Hugging Face's names and RoPE row order, as float32 numpy arrays
    (the tied output matrix is left out, as ``save_pretrained`` does)."""
    c = model.config
    out = {}
    for name, p in model.named_parameters():
        w = p.detach().float().cpu()
        if name.endswith("attention.wq.weight"):
            w = meta_to_hf_rows(w, c.n_head)
        elif name.endswith("attention.wk.weight"):
            w = meta_to_hf_rows(w, c.n_kv_head)
        out[hf_name(name)] = w.contiguous().numpy()
    return out


def save_hf(model: Llama, folder) -> Path:
    """Write ``model`` as ``LlamaForCausalLM.from_pretrained`` reads it: config.json + model.safetensors."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = hf_config(model.config)
    save_file(hf_state_dict(model), folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return folder


def load_hf(folder) -> Llama:
    """A :class:`Llama` from a Hugging Face LLaMA folder (single file or sharded safetensors)."""
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise CheckpointError(f"no config.json in {folder}: pass the folder save_pretrained wrote")
    config_file = folder / "config.json"
    config = config_from_hf(json.loads(config_file.read_text(encoding="utf-8")), str(config_file))
    index = folder / "model.safetensors.index.json"
    if index.exists():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        found = {k: v for shard in shards for k, v in load_torch_file(folder / shard).items()}
    elif (folder / "model.safetensors").exists():
        found = load_torch_file(folder / "model.safetensors")
    else:
        raise CheckpointError(f"no model.safetensors (or index of shards) in {folder}")
    if config.tie_embeddings:
        found.pop("lm_head.weight", None)  # some writers store the tied matrix twice
    model = _empty_llama(config)
    by_hf = {hf_name(name): name for name, _ in model.named_parameters()}
    check_shapes({h: tuple(dict(model.named_parameters())[n].shape) for h, n in by_hf.items()},
                 {k: v.shape for k, v in found.items()}, str(folder))
    tensors = {}
    for hf, name in by_hf.items():
        w = found[hf].float()
        if name.endswith("attention.wq.weight"):
            w = hf_to_meta_rows(w, config.n_head)
        elif name.endswith("attention.wk.weight"):
            w = hf_to_meta_rows(w, config.n_kv_head)
        tensors[name] = w.numpy()
    load_llama_tensors(model, tensors, str(folder))
    return model
