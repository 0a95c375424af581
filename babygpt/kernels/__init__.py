"""Kernels: the softmax and attention written as the fastest code writes them (chapter 14).

* :mod:`.online_softmax`: the softmax in one pass over blocks of a row (Milakov and Gimelshein 2018);
* :mod:`.flash_attention`: FlashAttention's tiling in plain PyTorch, forward and backward;
* :mod:`.triton_softmax`: a first Triton kernel, one row of a softmax per program;
* :mod:`.triton_flash_attention`: FlashAttention as Triton kernels, forward and backward;
* :mod:`.peak_memory`: the peak memory of a computation, on the CPU or a GPU.

Triton compiles its kernels for a GPU. With no GPU, it can interpret them instead, running each
program with numpy on CPU tensors, which is slow but computes the same thing: that is how the
course tests its kernels. Triton chooses between the two when a function is defined with
``@triton.jit``, by reading ``TRITON_INTERPRET``, and its own library (``tl.sum``, ``tl.max``, ...)
is defined when triton is imported; so the variable must be set before the first ``import
triton``. This package sets ``TRITON_INTERPRET=1`` here, before it imports triton, when PyTorch sees
no CUDA device and the variable is not set already; import it before triton.
"""

import os
import sys

import torch

if not torch.cuda.is_available() and "TRITON_INTERPRET" not in os.environ:
    if "triton" in sys.modules:
        raise ImportError(
            "triton was imported before babygpt.kernels, with no GPU and TRITON_INTERPRET unset, so its "
            "kernels would neither compile nor run: import babygpt.kernels first, or set "
            "TRITON_INTERPRET=1 in the environment before Python starts"
        )
    os.environ["TRITON_INTERPRET"] = "1"


def triton_interprets() -> bool:
    """True when Triton runs kernels in its interpreter (on CPU tensors), False when it compiles."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "yes", "on")
