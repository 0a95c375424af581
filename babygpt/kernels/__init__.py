"""Kernels: the softmax and attention written as the fastest code writes them (chapter 14).

* :mod:`.online_softmax`: the softmax in one pass over blocks of a row (Milakov and Gimelshein 2018);
* :mod:`.flash_attention`: FlashAttention's tiling in plain PyTorch, forward and backward;
* :mod:`.triton_softmax`: a first Triton kernel, one row of a softmax per program;
* :mod:`.triton_flash_attention`: FlashAttention as Triton kernels, forward and backward;
* :mod:`.peak_memory`: the peak memory of a computation, on the CPU or a GPU.

Triton compiles its kernels for a GPU. With no GPU, it can interpret them instead, running each
program with numpy on CPU tensors, which is slow but computes the same thing: that is how the
course tests its kernels. Triton decides between the two when a kernel is defined (``@triton.jit``
reads ``TRITON_INTERPRET``), so this package sets ``TRITON_INTERPRET=1`` here, before any of its
kernels is defined, when PyTorch sees no CUDA device and the variable is not set already.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def triton_interprets() -> bool:
    """True when Triton runs kernels in its interpreter (on CPU tensors), False when it compiles."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "yes", "on")
