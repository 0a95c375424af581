"""Probes (Alain & Bengio 2017): small classifiers trained to read a property from a model's
activations. A probe that reads it shows the information is there, in a form that probe can
read; it does not show the model uses it. Hence the controls: the same probe on shuffled labels
(what it can memorise) and on a randomly initialised model (what the input alone gives), and
always accuracy on held-out rows, never on the probe's own training rows.
"""

import torch
from torch import nn

from .hooks import run_with_cache


def residual_stream(model, ids: torch.Tensor, layer: int, position: int = -1) -> torch.Tensor:
    """The residual stream at ``position`` after ``layer`` blocks (0: the embeddings, n_layer:
    the output of the last block): ids (batch, seq) -> (batch, d_model)."""
    n_layer = model.config.n_layer
    if not 0 <= layer <= n_layer:
        raise ValueError(f"layer={layer} does not exist: probe a layer from 0 (the embeddings) to "
                         f"{n_layer} (after the last block)")
    name = f"blocks.{layer}.resid_pre" if layer < n_layer else f"blocks.{n_layer - 1}.resid_post"
    with torch.no_grad():
        _, cache = run_with_cache(model, ids, [name])
    return cache[name][:, position]


def make_probe(d_in: int, n_classes: int, hidden: int = 0, seed: int = 0) -> nn.Module:
    """A linear probe (``hidden=0``), or an MLP probe with one ReLU layer of ``hidden`` units."""
    torch.manual_seed(seed)
    if hidden == 0:
        return nn.Linear(d_in, n_classes)
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


def fit_probe(features: torch.Tensor, labels: torch.Tensor, n_classes: int, hidden: int = 0,
              steps: int = 300, lr: float = 1e-2, weight_decay: float = 1e-4, seed: int = 0) -> nn.Module:
    """Train a probe (see :func:`make_probe`) on features (n, d) and labels (n,), full batch,
    with AdamW; the features are standardised by the training rows' mean and spread, which the
    probe keeps."""
    mean, std = features.mean(0), features.std(0) + 1e-6
    probe = nn.Sequential(Standardise(mean, std), make_probe(features.shape[1], n_classes, hidden, seed))
    optimizer = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(probe(features), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return probe.eval()


class Standardise(nn.Module):
    """(x - mean) / std, with the training rows' statistics."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x):
        return (x - self.mean) / self.std


def accuracy(probe: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of rows whose label the probe predicts."""
    with torch.no_grad():
        return (probe(features).argmax(-1) == labels).float().mean().item()


def probe_accuracy(features: torch.Tensor, labels: torch.Tensor, n_classes: int, train: torch.Tensor,
                   test: torch.Tensor, **options) -> float:
    """Fit a probe on the rows ``train`` and return its accuracy on the rows ``test``."""
    if set(train.tolist()) & set(test.tolist()):
        raise ValueError("the train and test rows overlap: a probe must be scored on rows it never saw")
    probe = fit_probe(features[train], labels[train], n_classes, **options)
    return accuracy(probe, features[test], labels[test])
