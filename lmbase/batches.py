"""Train/validation split and random batches of next-token pairs, as numpy arrays."""

import numpy as np


def train_val_split(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Split a token sequence into its first ``1 - val_fraction`` (train) and the rest (validation).

    A contiguous split, not a shuffled one: validation text is text the model never saw.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction} must be strictly between 0 and 1, e.g. 0.1")
    ids = np.asarray(ids)
    n_train = int(len(ids) * (1 - val_fraction))
    if n_train == 0 or n_train == len(ids):
        raise ValueError(
            f"{len(ids)} tokens are too few to split with val_fraction={val_fraction}: "
            f"use a longer text"
        )
    return ids[:n_train], ids[n_train:]


class BatchSampler:
    """Random windows of a token sequence as ``(x, y)`` pairs where ``y`` is ``x`` shifted by one.

    ``x`` and ``y`` have shape ``(batch_size, context)``; the windows start at uniformly random
    offsets. Two ways to draw them, both a function of ``seed`` alone:

    * :meth:`sample` draws the next batch from one generator seeded by ``seed``, so a resumed run
      must restore the generator's state (microgpt saves ``rng.bit_generator.state``);
    * :meth:`at_step` draws the batch of step ``step`` from a generator seeded by ``(seed, step)``,
      so any step's batch can be recomputed with no state at all (babygpt's trainer).
    """

    def __init__(self, ids: np.ndarray, batch_size: int, context: int, seed: int = 0):
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"ids must be a 1-D token sequence, got shape {ids.shape}")
        if batch_size < 1 or context < 1:
            raise ValueError(f"batch_size={batch_size} and context={context} must both be at least 1")
        if len(ids) <= context:
            raise ValueError(
                f"the sequence has {len(ids)} tokens, too few for windows of context={context} "
                f"plus one target: use a context below {len(ids)} or a longer text"
            )
        self.ids = ids
        self.batch_size = batch_size
        self.context = context
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """One batch: ``x``, ``y`` of shape ``(batch_size, context)``, ``y[:, t] == next token of x[:, t]``."""
        return self._windows(self.rng)

    def at_step(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """The batch of step ``step``: the same ``(x, y)`` every time it is asked for, whatever came before."""
        return self._windows(np.random.default_rng([self.seed, step]))

    def _windows(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        starts = rng.integers(0, len(self.ids) - self.context, size=self.batch_size)
        offsets = starts[:, None] + np.arange(self.context)
        return self.ids[offsets], self.ids[offsets + 1]

    def __iter__(self):
        while True:
            yield self.sample()
