"""LoRA: low-rank adapters for the linear layers of any babygpt model (Hu et al. 2021).

A frozen linear layer ``y = W x + b`` gets a trainable low-rank update,

    y = W x + b + (alpha / r) · B A x,      A: (r, in), B: (out, r), r << min(in, out),

with ``A`` initialised like a linear layer (Kaiming-uniform) and ``B`` at zero, so that training
starts exactly from the base model. Only ``A`` and ``B`` train: ``r · (in + out)`` numbers per layer
instead of ``in · out``. For inference ``B A`` can be merged into ``W`` (no extra cost at all), and
unmerged again to keep training or to swap adapters; the adapters alone can be saved and loaded.
The frozen layer may also be a :class:`babygpt.quant.QuantizedLinear` (QLoRA, Dettmers et al.
2023: float adapters on an int4 base), which is never merged into.

The conventions are Hugging Face ``peft``'s ``LoraLayer``, so that the same ``A``, ``B``, rank and
alpha give the same outputs (the tests check it): scaling ``alpha / r``, dropout on the adapter's
input only, and ``target`` names matched as peft's ``target_modules`` are (a list of names, each
equal to a module's full name or to its last dotted parts, or one regular expression that must
match the full name).
"""

import json
import math
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from lmbase.checkpoint import CheckpointError

from .quant.linear import QuantizedLinear

FROZEN_LAYERS = (nn.Linear, QuantizedLinear)

ADAPTER_FILE = "adapter.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` (or ``QuantizedLinear``) plus ``(alpha / rank) · B A``:
    (..., in_features) -> (..., out_features)."""

    def __init__(self, base: nn.Module, rank: int, alpha: float, dropout: float = 0.0, generator=None):
        super().__init__()
        if not isinstance(base, FROZEN_LAYERS):
            raise TypeError(f"LoRA wraps nn.Linear or QuantizedLinear layers, not {type(base).__name__}")
        if rank < 1:
            raise ValueError(f"rank={rank} must be at least 1")
        if not alpha > 0:
            raise ValueError(
                f"alpha={alpha} must be positive: the update is scaled by alpha / rank, so alpha <= 0 turns the "
                f"adapter off or against its gradient; alpha = rank (the default) scales it by 1"
            )
        self.base = base
        self.rank, self.alpha = rank, alpha
        self.scaling = alpha / rank
        stored = base.weight if isinstance(base, nn.Linear) else base.scales
        factory = dict(dtype=stored.dtype, device=stored.device)
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, **factory))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, **factory))
        # nn.Linear's (and peft's) default: Kaiming-uniform with a = √5, i.e. U(-1/√in, 1/√in).
        bound = 1.0 / math.sqrt(base.in_features)
        with torch.no_grad():
            uniform = torch.rand(self.lora_A.shape, generator=generator, dtype=torch.float32)
            self.lora_A.copy_(uniform * 2 * bound - bound)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        """The update to the base weight, ``(alpha / rank) · B A``, shape (out_features, in_features)."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x):
        y = self.base(x)
        if self.merged:
            return y
        return y + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """Add ``B A`` into the base weight: the layer becomes one matrix multiply again."""
        if isinstance(self.base, QuantizedLinear):
            raise ValueError("a quantized base cannot absorb B A without rounding it away: keep the "
                             "adapter separate, or merge into the float model and quantize again")
        if not self.merged:
            self.base.weight += self.delta_weight().to(self.base.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract ``B A`` from the base weight again (the inverse of :meth:`merge`)."""
        if self.merged:
            self.base.weight -= self.delta_weight().to(self.base.weight.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha}, merged={self.merged}"


def matches(name: str, targets) -> bool:
    """peft's rule: ``targets`` a string is a regular expression for the full name; a list holds
    names equal to the full name or to its last dotted parts (``"wq"`` matches ``layers.0.attention.wq``)."""
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def apply_lora(model: nn.Module, targets, rank: int = 8, alpha: float | None = None, dropout: float = 0.0,
               seed: int = 0, trainable=()) -> list[str]:
    """Wrap every ``nn.Linear`` of ``model`` whose name matches ``targets`` in a :class:`LoRALinear`,
    in place, and freeze every other parameter (except those whose names match ``trainable``).

    ``alpha`` defaults to ``rank`` (a scaling of 1). Returns the wrapped modules' names.
    """
    alpha = float(rank if alpha is None else alpha)
    names = [name for name, module in model.named_modules() if name and matches(name, targets)]
    linear = [n for n, m in model.named_modules() if isinstance(m, FROZEN_LAYERS)]
    if not names:
        raise ValueError(f"no module of this {type(model).__name__} matches targets={targets!r}; "
                         f"its linear layers are {linear[:12]}{' ...' if len(linear) > 12 else ''}")
    generator = torch.Generator().manual_seed(seed)
    for name in names:
        module = model.get_submodule(name)
        if isinstance(module, LoRALinear):
            raise ValueError(f"{name} already has a LoRA adapter: apply_lora once per model")
        if not isinstance(module, FROZEN_LAYERS):
            raise ValueError(
                f"targets={targets!r} matches {name}, a {type(module).__name__}: LoRA wraps nn.Linear "
                f"and QuantizedLinear only"
            )
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, LoRALinear(module, rank, alpha, dropout, generator))
    for name, p in model.named_parameters():
        p.requires_grad = is_lora_parameter(name) or (bool(trainable) and matches(name, trainable))
    return names


def is_lora_parameter(name: str) -> bool:
    return name.endswith(("lora_A", "lora_B"))


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """Every LoRA layer of ``model`` by name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def count_trainable(model: nn.Module) -> int:
    """Numbers that receive gradients (each shared tensor once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def merge_lora(model: nn.Module) -> None:
    """Merge every adapter into its base weight (outputs unchanged up to rounding)."""
    for layer in lora_layers(model).values():
        layer.merge()


def unmerge_lora(model: nn.Module) -> None:
    """Undo :func:`merge_lora`."""
    for layer in lora_layers(model).values():
        layer.unmerge()


def unwrap_lora(model: nn.Module) -> nn.Module:
    """Merge every adapter and put the plain ``nn.Linear`` back in place: the model has its
    original structure and parameter names again, for the base model's checkpoint formats."""
    for name, layer in lora_layers(model).items():
        layer.merge()
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, layer.base)
    return model


def _model_fingerprint(model: nn.Module) -> dict:
    config = getattr(model, "config", None)
    return {"class": type(model).__name__, "config": config.to_dict() if hasattr(config, "to_dict") else None}


def save_adapter(folder, model: nn.Module) -> Path:
    """Write only the adapters: ``adapter.safetensors`` (every lora_A, lora_B) and ``adapter_config.json``
    (rank, alpha and wrapped layers of each, and which model they belong to)."""
    layers = lora_layers(model)
    if not layers:
        raise ValueError("this model has no LoRA layers: call apply_lora first")
    if any(layer.merged for layer in layers.values()):
        raise ValueError("the adapters are merged into the base weights: call unmerge_lora before saving them")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"{name}.{part}": getattr(layer, part).detach().cpu().contiguous()
               for name, layer in layers.items() for part in ("lora_A", "lora_B")}
    save_file(tensors, folder / ADAPTER_FILE)
    config = {
        "layers": {name: {"rank": l.rank, "alpha": l.alpha, "in_features": l.base.in_features,
                          "out_features": l.base.out_features} for name, l in layers.items()},
        "model": _model_fingerprint(model),
    }
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return folder


def load_adapter(folder, model: nn.Module, dropout: float = 0.0) -> list[str]:
    """Put the adapters saved in ``folder`` onto ``model`` (wrapping its layers if they are not yet).

    Raises CheckpointError if the adapters were saved from another model: another configuration,
    a layer this model lacks, or a layer of another shape.
    """
    folder = Path(folder)
    if not (folder / ADAPTER_CONFIG).exists():
        raise CheckpointError(f"no {ADAPTER_CONFIG} in {folder}: pass the folder save_adapter wrote")
    config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    mine, theirs = _model_fingerprint(model), config["model"]
    if mine != theirs:
        differ = [k for k in set(mine["config"] or {}) | set(theirs["config"] or {})
                  if (mine["config"] or {}).get(k) != (theirs["config"] or {}).get(k)]
        where = f" in {', '.join(sorted(differ))}" if differ else ""
        raise CheckpointError(
            f"the adapter in {folder} was trained on a {theirs['class']} that differs from this "
            f"{mine['class']}{where}: load it into the model it was trained on"
        )
    existing = lora_layers(model)
    for name, spec in config["layers"].items():
        if name in existing:
            continue
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise CheckpointError(f"the adapter in {folder} is for a layer {name!r} this model does not have") from None
        if not isinstance(module, FROZEN_LAYERS) or (module.in_features, module.out_features) != (
                spec["in_features"], spec["out_features"]):
            raise CheckpointError(f"the adapter in {folder} expects {name} to be a Linear({spec['in_features']}, "
                                  f"{spec['out_features']}); this model's is {module}")
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, LoRALinear(module, spec["rank"], spec["alpha"], dropout))
    tensors = load_file(folder / ADAPTER_FILE)
    layers = lora_layers(model)
    for name, spec in config["layers"].items():
        layer = layers[name]
        if layer.rank != spec["rank"]:
            raise CheckpointError(f"{name} has a rank-{layer.rank} adapter, the file's is rank {spec['rank']}")
        with torch.no_grad():
            layer.unmerge()
            layer.lora_A.copy_(tensors[f"{name}.lora_A"])
            layer.lora_B.copy_(tensors[f"{name}.lora_B"])
        layer.alpha, layer.scaling = spec["alpha"], spec["alpha"] / spec["rank"]
    for name, p in model.named_parameters():
        p.requires_grad = is_lora_parameter(name)
    return list(config["layers"])
