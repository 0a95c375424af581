"""The Fourier basis of Z_p, and what it shows in a model that adds mod p (Nanda et al. 2023).

A function f of x in {0, .., p-1} is a vector of p numbers; the basis writes it as a constant
plus waves cos(w_k x) and sin(w_k x), w_k = 2πk/p, for the frequencies k = 1 .. (p-1)/2. The
model that groks uses a handful of "key" frequencies: its embedding of a and b, its neurons and
its logits all live on them, through cos(w_k (a + b - c)) = cos(w_k(a+b)) cos(w_k c) + ...
"""

import math

import torch

from .modular import check_prime


def fourier_basis(p: int) -> tuple[torch.Tensor, list[str]]:
    """The (p, p) orthonormal basis, one wave per row: the constant, then cos k and sin k for
    k = 1 .. (p-1)/2; and the rows' names ("const", "cos 1", "sin 1", ...)."""
    check_prime(p)
    x = torch.arange(p, dtype=torch.float64)
    rows, names = [torch.ones(p, dtype=torch.float64)], ["const"]
    for k in range(1, (p - 1) // 2 + 1):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
        names += [f"cos {k}", f"sin {k}"]
    basis = torch.stack(rows)
    return basis / basis.norm(dim=1, keepdim=True), names


def frequency_energy(weights: torch.Tensor) -> torch.Tensor:
    """The share of the non-constant energy of ``weights`` (p, d), a function of the residue
    (rows) with d outputs, that each frequency k = 1 .. (p-1)/2 holds: ((p-1)/2,), sums to 1."""
    basis, _ = fourier_basis(weights.shape[0])
    energy = ((basis @ weights.double()) ** 2).sum(-1)[1:]  # drop the constant
    per_frequency = energy.view(-1, 2).sum(-1)
    return per_frequency / per_frequency.sum()


def key_frequencies(weights: torch.Tensor, share: float = 0.9) -> list[int]:
    """The fewest frequencies that together hold ``share`` of the energy of ``weights`` (p, d)."""
    energy = frequency_energy(weights)
    order = energy.argsort(descending=True)
    needed = int((energy[order].cumsum(0) < share).sum()) + 1
    return sorted(int(k) + 1 for k in order[:needed])


def neuron_frequencies(acts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For neurons whose activations over every pair are ``acts`` (p, p, n) (a, b, neuron): each
    neuron's frequency, the k whose terms (waves of a, of b, and their products) explain most of
    its variance, and the share they explain. Returns two (n,) tensors."""
    p = acts.shape[0]
    basis, _ = fourier_basis(p)
    coefficients = torch.einsum("ia,jb,abn->ijn", basis, basis, acts.double()) ** 2  # 2-D transform
    coefficients[0, 0] = 0  # the mean is not variance
    total = coefficients.sum((0, 1))
    k = (torch.arange(p) + 1) // 2  # the frequency of each basis row (0 for the constant)
    shares = torch.stack([coefficients[(k[:, None] == f) | (k[None, :] == f)].sum(0)
                          for f in range(1, (p - 1) // 2 + 1)]) / total
    best = shares.max(0)
    return best.indices + 1, best.values


def sum_waves(p: int, frequencies) -> torch.Tensor:
    """The unit waves cos(w_k (a+b)) and sin(w_k (a+b)) over every pair, as the rows of a
    (2·len(frequencies), p²) matrix (pair a·p + b, as ``modular.all_pairs`` orders them)."""
    check_prime(p)
    a, b = torch.cartesian_prod(torch.arange(p), torch.arange(p)).double().T
    waves = []
    for k in frequencies:
        angle = 2 * math.pi * k * (a + b) / p
        waves += [torch.cos(angle), torch.sin(angle)]
    waves = torch.stack(waves)
    return waves / waves.norm(dim=1, keepdim=True)


def restricted_and_excluded_logits(logits: torch.Tensor, frequencies) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the answer logits over every pair (p², p) along the key frequencies' waves of a + b:
    the restricted logits keep only each output's mean and its parts along those waves; the
    excluded logits are the logits less those parts."""
    p = logits.shape[1]
    waves = sum_waves(p, frequencies)
    logits = logits.double()
    along = waves.T @ (waves @ logits)
    mean = logits.mean(0, keepdim=True)
    return (mean + along).float(), (logits - along).float()


def circuit_losses(logits: torch.Tensor, labels: torch.Tensor, frequencies, train: torch.Tensor,
                   test: torch.Tensor) -> dict:
    """Nanda et al.'s two progress measures from the answer logits over every pair (p², p):
    the restricted loss (test pairs, only the key frequencies kept) and the excluded loss
    (training pairs, the key frequencies removed), in nats."""
    restricted, excluded = restricted_and_excluded_logits(logits, frequencies)
    loss = torch.nn.functional.cross_entropy
    return {"restricted_loss": loss(restricted[test], labels[test]).item(),
            "excluded_loss": loss(excluded[train], labels[train]).item()}
