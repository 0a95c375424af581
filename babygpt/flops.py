"""FLOPs counted from a PyTorch model, and the peaks of the device at hand, measured.

``lmbase.flops`` counts a GPT's FLOPs from its shape; here PyTorch counts them from the model
itself: :func:`counted_flops` runs a forward pass (and the backward pass of the loss) under
``torch.utils.flop_counter.FlopCounterMode``, which adds up the FLOPs of every matrix product it
sees (``mm``, ``addmm``, ``bmm``, attention), 2 per multiply-add. On the ``meta`` device nothing
is computed, so a 124M or 70B model is counted in a moment.

A data sheet's peak is what the chip could do; :func:`measured_matmul_flops` and
:func:`measured_memory_bandwidth` are what it does here, the two ceilings of a roofline.
"""

import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from lmbase.recorded_runs import gpu_driver
from .model import cross_entropy


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a GPU runs asynchronously; a CPU needs nothing)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_kind(device: torch.device) -> str:
    """The device's name as ``lmbase.flops``' tables match it: the GPU's name, or "cpu"."""
    device = torch.device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def device_description(device: torch.device) -> dict:
    """What a recorded run ran on (``lmbase.recorded_runs``): ``{"kind", "name"}``, and on a GPU
    its driver's and CUDA's versions."""
    device = torch.device(device)
    described = {"kind": device.type, "name": device_kind(device)}
    if device.type == "cuda":
        described.update(driver=gpu_driver(), cuda=torch.version.cuda)
    return described


def counted_flops(model: torch.nn.Module, batch: int, seq: int, training: bool = True) -> dict[str, int]:
    """FLOPs of one forward pass of ``(batch, seq)`` token ids through ``model`` (and, when
    ``training``, the backward pass of its cross-entropy), by operator, with their ``"total"``.

    ``model(ids, validate=False)`` must return logits ``(batch, seq, vocab)``; put it on the meta device
    (``with torch.device("meta"): model = GPT(config)``) to count without computing.
    """
    if batch < 1 or seq < 1:
        raise ValueError(f"batch={batch} and seq={seq} must be at least 1")
    device = next(model.parameters()).device
    ids = torch.zeros(batch, seq, dtype=torch.long, device=device)
    counter = FlopCounterMode(display=False)
    # PyTorch's plain attention: its two batched products are what the counter sees on every
    # device (a fused CPU kernel would go uncounted)
    with counter, sdpa_kernel(SDPBackend.MATH):
        logits = model(ids, validate=False)  # meta tensors have no values to check
        if training:
            cross_entropy(logits, ids).backward()
    counts = {str(op).removeprefix("aten."): int(n) for op, n in counter.get_flop_counts()["Global"].items()}
    return {**counts, "total": int(counter.get_total_flops())}


def measured_matmul_flops(device: torch.device, size: int = 2048, repeats: int = 5, dtype=torch.float32) -> float:
    """FLOP/s of ``size``×``size`` matrix products on ``device``: the practical peak of a CPU."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def measured_memory_bandwidth(device: torch.device, n_bytes: int = 2**28, repeats: int = 5) -> float:
    """Bytes/s of copying an ``n_bytes`` float32 tensor into another (each copy reads and writes
    ``n_bytes``): the practical memory ceiling. Take ``n_bytes`` well above the caches."""
    source = torch.ones(n_bytes // 4, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        target.copy_(source)
    synchronize(device)
    return 2 * n_bytes * repeats / (time.perf_counter() - start)
