"""FLOPs per token and model FLOPs utilisation (MFU), framework-free.

MFU (PaLM, Chowdhery et al. 2022, appendix B) is the fraction of the hardware's peak that the
model's own arithmetic uses: ``tokens/s x FLOPs per token / peak FLOP/s``. Training a transformer
costs ``6 N + 12 L d T`` FLOPs per token: ``6 N`` for the matrix multiplies of ``N`` parameters
(forward and backward) and ``12 L d T`` for the attention scores and their weighted sum over a
context of ``T``. ``N`` counts the tied embedding once, for the output projection it performs.
"""

# Peak dense bf16 FLOP/s per device as JAX or PyTorch lists it (a TPU v2/v3 chip shows two
# devices, one per core). Matched by substring of the device kind, longest first.
PEAK_FLOPS = {
    "TPU v2": 22.5e12,
    "TPU v3": 61.5e12,
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v6 lite": 918e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "H200": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "T4": 65e12,
    "V100": 125e12,
}


# Peak memory bandwidth (bytes/s) of one device, from NVIDIA's data sheets; matched like PEAK_FLOPS.
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
}


def training_flops_per_token(n_params: int, n_layer: int, d_model: int, context: int) -> float:
    """``6 N + 12 L d T``: training FLOPs per token (forward and backward)."""
    return 6.0 * n_params + 12.0 * n_layer * d_model * context


def _lookup(table: dict, device_kind: str) -> float | None:
    for name in sorted(table, key=len, reverse=True):
        if name.lower() in device_kind.lower():
            return table[name]
    return None


def peak_flops(device_kind: str) -> float | None:
    """The peak bf16 FLOP/s of one device of this kind, or None when the kind is not in the table."""
    return _lookup(PEAK_FLOPS, device_kind)


def peak_memory_bandwidth(device_kind: str) -> float | None:
    """The peak memory bandwidth (bytes/s) of one device of this kind, or None when not in the table."""
    return _lookup(PEAK_MEMORY_BANDWIDTH, device_kind)


def mfu(tokens_per_second: float, flops_per_token: float, peak_flops_per_second: float) -> float:
    """Model FLOPs utilisation, a fraction in [0, 1] for a realistic measurement."""
    if peak_flops_per_second <= 0:
        raise ValueError(f"peak_flops_per_second={peak_flops_per_second} must be positive")
    return tokens_per_second * flops_per_token / peak_flops_per_second
