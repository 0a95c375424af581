"""Number formats: how many bits each one spends on range and on precision.

A floating-point format keeps a sign, an exponent (the range) and a mantissa (the precision):
fp32 has 8 exponent and 23 mantissa bits, fp16 5 and 10, bf16 8 and 7, fp8 e4m3 4 and 3, e5m2
5 and 2. An integer format of ``bits`` bits keeps ``2**bits`` evenly spaced levels and needs a
scale to say what one level is worth (:mod:`babygpt.quant.rtn`).
"""

import torch

FLOAT_FORMATS = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
    "fp8 e4m3": torch.float8_e4m3fn,
    "fp8 e5m2": torch.float8_e5m2,
}

SUPPORTED_BITS = (2, 3, 4, 8)


def float_format_facts(dtype: torch.dtype) -> dict:
    """Bits, largest finite value, smallest normal value and machine epsilon (the gap between
    1 and the next number) of a floating-point ``dtype``."""
    info = torch.finfo(dtype)
    return {"bits": info.bits, "max": float(info.max), "smallest normal": float(info.tiny),
            "epsilon": float(info.eps)}


def round_to_format(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x`` rounded to the nearest number of ``dtype`` and read back as float32 (same shape).

    Values past the format's range become inf (fp16, bf16, e5m2; e4m3 has no inf and PyTorch's
    conversion clamps them to its largest value, 448); values far below its smallest number
    become 0.
    """
    return x.to(dtype).to(torch.float32)


def check_bits(bits: int) -> None:
    """Raise ValueError unless ``bits`` is one of :data:`SUPPORTED_BITS`."""
    if bits not in SUPPORTED_BITS:
        raise ValueError(
            f"bits={bits!r} is not supported: choose one of {SUPPORTED_BITS} (8 for int8, 4 for "
            f"int4, 3 and 2 for the low-bit experiments)"
        )
