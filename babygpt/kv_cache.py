"""The KV cache every babygpt model generates with: each layer's keys and values, preallocated.

During generation the keys and values of a position never change once computed (a token's key
depends only on the tokens up to it), so each layer keeps them in a tensor of
``(batch, n_kv_head, length, head_dim)`` allocated once. A forward pass with a cache writes the
keys and values of its new positions and attends over every position written so far.

Positions may differ from row to row (``start`` a ``(batch,)`` tensor), so that prompts of
different lengths generate together, each row at its own position; a query at position ``t``
sees the cached positions ``s <= t`` of its own row, and nothing a longer row or an earlier
window left beyond them. ``lmbase.kv_cache_arithmetic`` counts its bytes and the FLOPs it saves.
"""

import copy

import torch


def positions_of(start, seq: int, device=None) -> torch.Tensor:
    """The positions ``start .. start + seq - 1``: (seq,) int64 for an int ``start`` (every row
    alike), (batch, seq) for a (batch,) tensor of one start per row."""
    if isinstance(start, torch.Tensor):
        return start.to(device).view(-1, 1) + torch.arange(seq, device=device)
    return torch.arange(start, start + seq, device=device)


def check_fits_context(start, seq: int, context: int) -> None:
    """Raise ValueError, naming the fix, unless positions ``start .. start + seq - 1`` are < context."""
    last = seq - 1 + (start if isinstance(start, int) else int(start.max()))
    if last < context:
        return
    if isinstance(start, int) and start == 0:
        raise ValueError(
            f"the sequence has {seq} tokens but this model's context is {context}: "
            f"crop the input to its last {context} tokens"
        )
    raise ValueError(
        f"position {last} is past this model's context of {context} positions: generate fewer tokens, "
        f"or slide the window to the last tokens (babygpt.generate does)"
    )


class KVCache:
    """One layer's keys and values for generation: (batch, n_kv_head, length, head_dim) each.

    ``update`` writes new positions and returns what attention reads: every key and value up to
    the furthest position written, and which of them each new query may see.
    """

    def __init__(self, batch: int, n_kv_head: int, length: int, head_dim: int, dtype=torch.float32, device=None):
        shape = (batch, n_kv_head, length, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)
        self.values = torch.zeros(shape, dtype=dtype, device=device)

    @property
    def length(self) -> int:
        """How many positions the cache holds."""
        return self.keys.shape[-2]

    def update(self, keys, values, start):
        """Store keys and values (batch, n_kv_head, seq, head_dim) at positions ``start ..``.

        Returns ``(keys, values, visible)``: the cached keys and values (batch, n_kv_head, end,
        head_dim) up to the furthest position written, and the mask (batch, 1, seq, end), True
        where the query at position t may attend the key at position s (s <= t).
        """
        batch, _, seq, _ = keys.shape
        positions = positions_of(start, seq, keys.device).expand(batch, seq)
        end = int(positions.max()) + 1
        if end > self.length:
            raise ValueError(
                f"the KV cache holds {self.length} positions; position {end - 1} does not fit: allocate it "
                f"with new_kv_caches(batch, length) for a length of at least {end} (at most the context)"
            )
        rows = torch.arange(batch, device=keys.device)[:, None]
        self.keys[rows, :, positions] = keys.transpose(1, 2)  # (batch, seq, heads, head_dim) slots
        self.values[rows, :, positions] = values.transpose(1, 2)
        visible = torch.arange(end, device=keys.device) <= positions[:, None, :, None]
        return self.keys[:, :, :end], self.values[:, :, :end], visible

    def row(self, index: int) -> "KVCache":
        """The cache of one row, sharing its storage: writes to it land in this cache."""
        view = copy.copy(self)
        view.keys, view.values = self.keys[index:index + 1], self.values[index:index + 1]
        return view

    def nbytes(self) -> int:
        return self.keys.numel() * self.keys.element_size() + self.values.numel() * self.values.element_size()


def new_kv_caches(n_layer: int, batch: int, n_kv_head: int, length: int, head_dim: int, like: torch.Tensor):
    """Empty caches for ``n_layer`` layers, in the dtype and on the device of ``like``."""
    return [KVCache(batch, n_kv_head, length, head_dim, like.dtype, like.device) for _ in range(n_layer)]
