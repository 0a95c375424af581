"""A neural bigram model: a table of logits trained by gradient descent.

The model is one V x V matrix ``W``: the logits of the next token are row ``W[previous]``.
Trained with cross-entropy on every (previous, next) pair of a text, the loss is
``-sum_ij C_ij log softmax(W)_ij / N`` for the bigram count matrix ``C``, whose minimum is
exactly the count model's ``C_ij / C_i``. Adding ``k`` pseudo-counts to every pair moves the
minimum to the add-k model ``(C_ij + k) / (C_i + k V)``: gradient descent rediscovers counting.
"""

import numpy as np
import torch
import torch.nn.functional as F


class NeuralBigram(torch.nn.Module):
    """Next-token logits from the previous token alone: ``forward(ids) = W[ids]``."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(vocab_size, vocab_size))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits of shape (*ids.shape, vocab_size)."""
        return self.logits[ids]

    def probabilities(self) -> torch.Tensor:
        """The model's next-token distribution for every previous token, shape (V, V)."""
        return F.softmax(self.logits, dim=-1)


def bigram_counts(ids, vocab_size: int) -> np.ndarray:
    """C[i, j] = how often token j follows token i in ``ids``, shape (V, V), int64."""
    ids = np.asarray(ids, dtype=np.int64)
    counts = np.zeros((vocab_size, vocab_size), dtype=np.int64)
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    return counts


def train_neural_bigram(counts: np.ndarray, k: float = 0.0, steps: int = 500, lr: float = 0.5):
    """Fit a NeuralBigram to a bigram count matrix (plus ``k`` pseudo-counts) by full-batch Adam.

    The loss at every step is the mean cross-entropy over all the pairs the counts describe,
    the same number minibatch training on the text would estimate. Deterministic: the
    weights start at zero. Returns ``(model, losses)``, losses a list of floats per step.
    """
    targets = torch.as_tensor(counts, dtype=torch.float64) + k
    model = NeuralBigram(counts.shape[0]).double()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = -(targets * F.log_softmax(model.logits, dim=-1)).sum() / targets.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses
