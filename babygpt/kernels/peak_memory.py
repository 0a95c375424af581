"""The peak memory of a computation: the most bytes its tensors held at once.

On a GPU, PyTorch's caching allocator keeps the count (``torch.cuda.max_memory_allocated``). On
the CPU there is no such counter, so :class:`PeakMemory` keeps one: it sees every operator that
runs while it is active (a ``TorchDispatchMode``), adds the bytes of each new storage an operator
creates and subtracts them when the storage is freed (with its last view). Views and in-place results share a storage
and add nothing. Tensors that existed before it started (the inputs) are not counted.
"""

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class PeakMemory(TorchDispatchMode):
    """``with PeakMemory() as memory: ...``, then ``memory.peak``: the most bytes held at once by
    the tensors created inside the block; ``memory.live``: those still held at its end."""

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self._counted = set()  # data pointers of the storages counted and still alive

    def _free(self, pointer: int, nbytes: int) -> None:
        if pointer in self._counted:
            self._counted.discard(pointer)
            self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0]
                  if isinstance(t, torch.Tensor)}
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            pointer, nbytes = storage.data_ptr(), storage.nbytes()
            if nbytes == 0 or pointer in inputs or pointer in self._counted:
                continue  # a view, an in-place result or an empty tensor: no new memory
            self._counted.add(pointer)
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._free, pointer, nbytes)  # when the last view goes
        return out
