"""Quantization of babygpt models (chapter 10), one idea per module:

* :mod:`.formats`: floating-point formats (fp32, fp16, bf16, fp8) and the integer widths;
* :mod:`.rtn`: round-to-nearest integer quantization with per-tensor, per-channel or group-wise
  scales, symmetric or asymmetric (:class:`QuantizedTensor`);
* :mod:`.packing`: codes of 2, 3, 4 or 8 bits packed densely into bytes;
* :mod:`.linear`: :class:`QuantizedLinear`, which dequantizes on the fly, and
  :func:`quantize_linears`, which puts it in a model;
* :mod:`.int8_matmul`: int8 × int8 products with int32 accumulation in groups (llama2.c's Q8_0)
  and :class:`Int8Linear`;
* :mod:`.gptq`: GPTQ, layer by layer from calibration data.
"""

from .formats import FLOAT_FORMATS, SUPPORTED_BITS, float_format_facts, round_to_format
from .gptq import gptq, gptq_linears, hessian
from .int8_matmul import Int8Linear, int8_matmul, int8_matmul_reference, quantize_int8
from .linear import QuantizedLinear, quantizable_linears, quantize_linears
from .packing import pack, unpack
from .rtn import QuantizedTensor, quantize

__all__ = [
    "FLOAT_FORMATS", "SUPPORTED_BITS", "float_format_facts", "round_to_format", "gptq", "gptq_linears",
    "hessian", "Int8Linear", "int8_matmul", "int8_matmul_reference", "quantize_int8", "QuantizedLinear",
    "quantizable_linears", "quantize_linears", "pack", "unpack", "QuantizedTensor", "quantize",
]
