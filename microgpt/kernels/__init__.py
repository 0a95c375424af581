"""Kernels in Pallas, JAX's kernel language (chapter 14).

* :mod:`.pallas_softmax`: a first kernel, the softmax of a block of rows per program;
* :mod:`.pallas_flash_attention`: FlashAttention's forward and backward kernels, with a
  ``jax.custom_vjp`` so that ``jax.grad`` runs the backward kernels.

``pallas_call`` compiles a kernel for a GPU (through Triton) or a TPU (through Mosaic); with
``interpret=True`` it runs the kernel as ordinary JAX operations on any backend, the CPU included.
The functions here interpret when JAX's default backend is the CPU.
"""

import jax


def pallas_interprets() -> bool:
    """True when the default backend is the CPU, where Pallas kernels can only be interpreted."""
    return jax.default_backend() == "cpu"
