"""FLOPs per token and model FLOPs utilisation (MFU), framework-free.

MFU (PaLM, Chowdhery et al. 2022, appendix B) is the fraction of the hardware's peak that the
model's own arithmetic uses: ``tokens/s x FLOPs per token / peak FLOP/s``. Training a transformer
costs ``6 N + 12 L d T`` FLOPs per token: ``6 N`` for the matrix multiplies of ``N`` parameters
(forward and backward) and ``12 L d T`` for the attention scores and their weighted sum over a
context of ``T``. ``N`` counts the tied embedding once, for the output projection it performs.

:func:`gpt_forward_flops` counts the same thing matrix by matrix, from the architecture: what a
FLOP counter run on the model finds (``babygpt.flops``, ``microgpt.flops``).
"""

from .checks import check_at_least_one

# Peak dense bf16 FLOP/s per device as JAX or PyTorch lists it (a TPU v2/v3 chip shows two
# devices, one per core). Matched by substring of the device kind, longest first. NVIDIA's
# data sheets (tensor cores, without sparsity) and Google Cloud's TPU pages (per chip, halved
# for v2 and v3).
PEAK_FLOPS = {
    "TPU v2": 22.5e12,
    "TPU v3": 61.5e12,
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v6 lite": 918e12,
    "TPU v6e": 918e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "H200": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "T4": 65e12,
    "V100": 125e12,
}

# Peak float32 FLOP/s without tensor cores (NVIDIA's data sheets: "FP32"), the figure a float32
# run is measured against. TPUs have none: their matrix units multiply in bf16, and a float32
# product is several bf16 passes.
PEAK_FLOPS_FP32 = {
    "H100 PCIe": 51e12,
    "H100": 67e12,
    "H200": 67e12,
    "A100": 19.5e12,
    "L4": 30.3e12,
    "T4": 8.1e12,
    "V100": 15.7e12,
}

# Peak memory bandwidth (bytes/s) of one device, from NVIDIA's data sheets and Google Cloud's TPU
# pages (per chip, halved for v2 and v3, whose two cores are two devices); matched like PEAK_FLOPS.
# A decoding step at small batch reads every weight once, so its speed is bounded by this figure.
PEAK_MEMORY_BANDWIDTH = {
    "H200": 4.8e12,
    "H100 PCIe": 2.0e12,
    "H100": 3.35e12,
    "A100-SXM4-80GB": 2.039e12,
    "A100 80GB PCIe": 1.935e12,
    "A100": 1.555e12,
    "L4": 300e9,
    "T4": 320e9,
    "V100": 900e9,
    "TPU v2": 300e9,
    "TPU v3": 450e9,
    "TPU v4": 1.2e12,
    "TPU v5 lite": 819e9,
    "TPU v5e": 819e9,
    "TPU v5p": 2.765e12,
    "TPU v6 lite": 1.64e12,
    "TPU v6e": 1.64e12,
}

PEAK_TABLES = {"bf16": PEAK_FLOPS, "fp32": PEAK_FLOPS_FP32}


def training_flops_per_token(n_params: int, n_layer: int, d_model: int, context: int) -> float:
    """``6 N + 12 L d T``: training FLOPs per token (forward and backward)."""
    return 6.0 * n_params + 12.0 * n_layer * d_model * context


def gpt_forward_flops(vocab_size: int, n_layer: int, d_model: int, context: int,
                      d_ff: int | None = None, kv_dim: int | None = None,
                      mlp_matrices: int = 2) -> dict[str, float]:
    """Forward FLOPs per token of a GPT's matrix multiplies, term by term (2 FLOPs a multiply-add).

    Per layer: the query, key and value projections (``d x d`` and two ``d x kv_dim``), the
    attention output ``d x d``, the MLP's ``mlp_matrices`` matrices of ``d x d_ff`` (2 for GPT's
    up and down, 3 for LLaMA's SwiGLU), and attention itself: each token's query against ``T``
    keys and its weighted sum of ``T`` values, ``2 * 2 * T * d``, over the whole context as PaLM
    counts it (a causal mask needs half). Once: the output head ``d x vocab``; the embedding
    lookups multiply nothing. LayerNorms, softmax and activations are not matrix products and
    are left out. Training costs three times the sum (the backward pass is two products per one).
    """
    d_ff = 4 * d_model if d_ff is None else d_ff
    kv_dim = d_model if kv_dim is None else kv_dim
    check_at_least_one(vocab_size=vocab_size, n_layer=n_layer, d_model=d_model, context=context,
                       d_ff=d_ff, kv_dim=kv_dim)
    return {
        "qkv": 2.0 * n_layer * d_model * (d_model + 2 * kv_dim),
        "attention_out": 2.0 * n_layer * d_model * d_model,
        "mlp": 2.0 * n_layer * mlp_matrices * d_model * d_ff,
        "attention": 2.0 * 2.0 * n_layer * context * d_model,
        "head": 2.0 * d_model * vocab_size,
    }



def generation_flops(vocab_size: int, n_layer: int, d_model: int, prompt_tokens: int, new_tokens: int,
                     d_ff: int | None = None, kv_dim: int | None = None, mlp_matrices: int = 2) -> float:
    """Forward FLOPs to read a prompt of ``prompt_tokens`` and write ``new_tokens`` with a KV cache.

    Every position but the last written one goes through the model once (``M = prompt_tokens +
    new_tokens - 1`` positions): its projections and MLP (:func:`gpt_forward_flops`' terms), and
    its attention to itself and every position before it, ``2 * 2 * L * d`` per key. The output
    head runs only where a token is written: at the last prompt position and each new one but the
    last, ``new_tokens`` times.
    """
    if prompt_tokens < 1 or new_tokens < 1:
        raise ValueError(f"prompt_tokens={prompt_tokens} and new_tokens={new_tokens} must be at least 1")
    terms = gpt_forward_flops(vocab_size, n_layer, d_model, 1, d_ff, kv_dim, mlp_matrices)
    positions = prompt_tokens + new_tokens - 1
    per_position = terms["qkv"] + terms["attention_out"] + terms["mlp"]
    keys_read = positions * (positions + 1) / 2  # position t attends t + 1 keys
    return positions * per_position + 2.0 * 2.0 * n_layer * d_model * keys_read + new_tokens * terms["head"]


def rope_flops_per_token(n_layer: int, d_model: int, kv_dim: int | None = None) -> float:
    """FLOPs of rotary embeddings for one token: each channel of its query (``d_model``) and key
    (``kv_dim``) in every layer becomes ``x cos + x' sin``, two multiplies and an add."""
    kv_dim = d_model if kv_dim is None else kv_dim
    return 3.0 * n_layer * (d_model + kv_dim)

def _lookup(table: dict, device_kind: str) -> float | None:
    for name in sorted(table, key=len, reverse=True):
        if name.lower() in device_kind.lower():
            return table[name]
    return None


def peak_flops(device_kind: str, precision: str = "bf16") -> float | None:
    """The data-sheet peak FLOP/s of one device of this kind in ``precision`` ("bf16" or "fp32"),
    or None when the kind is not in the table."""
    if precision not in PEAK_TABLES:
        raise ValueError(f"precision={precision!r} has no table: use one of {sorted(PEAK_TABLES)}")
    return _lookup(PEAK_TABLES[precision], device_kind)


def peak_memory_bandwidth(device_kind: str) -> float | None:
    """The peak memory bandwidth (bytes/s) of one device of this kind, or None when not in the table."""
    return _lookup(PEAK_MEMORY_BANDWIDTH, device_kind)


def device_peak_flops(device_kind: str, precision: str = "bf16", given: float | None = None) -> float:
    """The peak to divide by: ``given`` when there is one, else the data sheet's for this kind.

    A device the tables do not list (a CPU, a new GPU) has no data-sheet peak: the error says
    to pass one, for instance a matmul's FLOP/s measured on it.
    """
    if given is not None:
        if given <= 0:
            raise ValueError(f"the given peak {given} FLOP/s must be positive")
        return float(given)
    listed = peak_flops(device_kind, precision)
    if listed is None:
        raise ValueError(
            f"no {precision} data-sheet peak for device {device_kind!r}: pass the peak yourself "
            f"(given=..., e.g. a large matmul's FLOP/s measured on it), or add the device to "
            f"lmbase.flops.{'PEAK_FLOPS' if precision == 'bf16' else 'PEAK_FLOPS_FP32'}"
        )
    return listed


def mfu(tokens_per_second: float, flops_per_token: float, peak_flops_per_second: float) -> float:
    """Model FLOPs utilisation, a fraction in [0, 1] for a realistic measurement."""
    if peak_flops_per_second <= 0:
        raise ValueError(f"peak_flops_per_second={peak_flops_per_second} must be positive")
    if tokens_per_second <= 0 or flops_per_token <= 0:
        raise ValueError(
            f"tokens_per_second={tokens_per_second} and flops_per_token={flops_per_token} must be "
            f"positive: time at least one step that processes tokens"
        )
    return tokens_per_second * flops_per_token / peak_flops_per_second
