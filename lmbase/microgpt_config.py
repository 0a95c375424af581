"""microgpt's architecture as one framework-free configuration, shared by both packages.

microgpt (JAX) builds its model from a :class:`GPTConfig`, and babygpt's PyTorch mirror of the
same architecture (``babygpt.microgpt_arch``) builds its own from the same class, so a
``config.json`` written by either package describes the same model to the other.
``config_to_json`` / ``config_from_json`` are that file's two directions. See ``microgpt.model``
for what each field does to the forward pass.
"""

from dataclasses import asdict, dataclass, replace

from .checkpoint import CheckpointError, config_from_fields
from .checks import check_model_shape

MODEL_TYPE = "microgpt"
FORMAT_VERSION = 1
BLOCK_STYLES = ("pre_norm", "seed", "seed_normed_residual")


@dataclass(frozen=True)
class GPTConfig:
    """The architecture. ``context`` is the longest sequence the model accepts."""

    vocab_size: int
    context: int
    n_layer: int
    n_head: int
    d_model: int
    block: str = "pre_norm"
    final_norm: bool = True
    shared_block_init: bool = False  # the seed initialises every block from the same key
    ln_eps_inside_sqrt: bool = True  # False: the seed's (x - mean) / (std + eps)
    ln_eps: float = 1e-5
    dropout: float = 0.0
    init_std: float = 0.02

    def __post_init__(self):
        check_model_shape(self)
        if self.d_model % 2:
            raise ValueError(f"d_model={self.d_model} must be even (sin/cos position pairs)")
        if self.block not in BLOCK_STYLES:
            raise ValueError(f"block={self.block!r} is unknown: use one of {BLOCK_STYLES}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")

    @classmethod
    def named(cls, name: str, **overrides) -> "GPTConfig":
        """A published configuration by name (see ``NAMED_CONFIGS``), with fields overridden."""
        if name not in NAMED_CONFIGS:
            raise KeyError(f"no configuration {name!r}: the named ones are {sorted(NAMED_CONFIGS)}")
        return replace(NAMED_CONFIGS[name], **overrides)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head


def seed_config(vocab_size: int, d_model: int, n_layer: int, n_head: int = 8, context: int = 512, **kw) -> GPTConfig:
    """The microGPT seed's architecture (``micro_gpt_4`` style blocks), everything as it computed it.

    Keyword arguments override any field, e.g. ``block="seed_normed_residual"`` for ``micro_gpt_1/2``.
    """
    seed = dict(block="seed", final_norm=False, shared_block_init=True, ln_eps_inside_sqrt=False)
    return GPTConfig(vocab_size=vocab_size, context=context, n_layer=n_layer, n_head=n_head, d_model=d_model,
                     **{**seed, **kw})


NAMED_CONFIGS = {
    # The seed's two experiments (its README): micro_gpt_4 at (9000, 512), 8 heads, and at
    # (8000, 384), 12 heads. The seed never states its context; sinusoidal positions have no
    # parameters, so the counts (17,205,248 and 10,160,640) do not depend on it.
    "seed-17m": seed_config(9000, 512, n_layer=4, n_head=8),
    "seed-10m": seed_config(8000, 384, n_layer=4, n_head=12),
    # nanoGPT's "baby" Tiny Shakespeare character model: 6 layers, 6 heads, 384 wide, context 256.
    "shakespeare-char": GPTConfig(vocab_size=65, context=256, n_layer=6, n_head=6, d_model=384, dropout=0.2),
    "shakespeare-char-seed": seed_config(65, 384, n_layer=6, n_head=6, context=256, dropout=0.2),
    # The course model of Tiny Shakespeare (lmbase.course_models): babygpt's "shakespeare-small" shape.
    "shakespeare-small": GPTConfig(vocab_size=65, context=128, n_layer=4, n_head=4, d_model=192, dropout=0.1),
    # The pair that measures the seed's block (chapter 4): GPT-2's pre-norm block against the seed's.
    "shakespeare-pair": GPTConfig(vocab_size=65, context=128, n_layer=4, n_head=4, d_model=128, dropout=0.1),
    "shakespeare-pair-seed": seed_config(65, 128, n_layer=4, n_head=4, context=128, dropout=0.1),
    # small enough for tests and a CPU
    "tiny": GPTConfig(vocab_size=65, context=64, n_layer=2, n_head=4, d_model=64),
}


def config_to_json(config: GPTConfig, tokenizer_chars: str | None = None) -> dict:
    data = {"model_type": MODEL_TYPE, "format_version": FORMAT_VERSION, **asdict(config)}
    if tokenizer_chars is not None:
        data["tokenizer"] = {"type": "char", "chars": tokenizer_chars}
    return data


def config_from_json(data: dict, source="config.json") -> GPTConfig:
    """The GPTConfig a config.json's ``data`` describes; ``source`` (the file) is named in errors."""
    if data.get("model_type") != MODEL_TYPE:
        raise CheckpointError(
            f"{source} has model_type {data.get('model_type')!r}, not {MODEL_TYPE!r}: this is "
            f"not a microgpt checkpoint"
        )
    return config_from_fields(GPTConfig, data, source)
