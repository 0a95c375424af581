"""FLOPs arithmetic for a GPT, and model FLOPs utilization (MFU), framework-free.

The training cost per token follows PaLM (Chowdhery et al. 2022, appendix B), as nanoGPT's
``estimate_mfu`` does: ``6 N + 12 L d T`` FLOPs, where N counts the parameters that multiply
activations (every one but the position table: the tied token embedding is counted once, as the
output matrix), ``6 N`` is a forward (2 N) and a backward (4 N) pass through them, and
``12 L d T`` is the attention scores and weighted sum (QKᵀ and AV, 2·2·d·T per layer forward,
times 3 for forward + backward) over a context of T tokens.

MFU is the FLOPs the model needs per second, divided by the device's peak: the throughput one
would have if every cycle did useful matrix arithmetic.
"""

# Dense (no sparsity) peak matrix FLOP/s by device and dtype, from the vendors' data sheets.
PEAK_FLOPS = {
    ("H100-SXM", "bf16"): 989e12,
    ("H100-PCIe", "bf16"): 756e12,
    ("A100", "bf16"): 312e12,
    ("A100", "fp32"): 19.5e12,
    ("T4", "fp16"): 65e12,
    ("T4", "fp32"): 8.1e12,
}


def gpt_training_flops_per_token(n_params: int, n_layer: int, d_model: int, context: int) -> float:
    """FLOPs to train on one token: ``6 N + 12 L d T`` (N without the position table)."""
    for name, value in (("n_params", n_params), ("n_layer", n_layer), ("d_model", d_model), ("context", context)):
        if value < 1:
            raise ValueError(f"{name}={value} must be at least 1")
    return 6.0 * n_params + 12.0 * n_layer * d_model * context


def gpt_forward_flops_per_token(n_params: int, n_layer: int, d_model: int, context: int) -> float:
    """FLOPs of a forward pass per token: a third of the training cost, ``2 N + 4 L d T``."""
    return gpt_training_flops_per_token(n_params, n_layer, d_model, context) / 3.0


def model_flops_utilization(flops_per_token: float, tokens_per_second: float, peak_flops: float) -> float:
    """MFU as a fraction in [0, 1]: achieved model FLOP/s over the device's peak FLOP/s."""
    if peak_flops <= 0 or tokens_per_second < 0:
        raise ValueError(f"peak_flops={peak_flops} must be positive and tokens_per_second={tokens_per_second} >= 0")
    return flops_per_token * tokens_per_second / peak_flops
