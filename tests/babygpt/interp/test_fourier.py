"""The Fourier basis and the measures built on it."""

import math

import pytest
import torch

from babygpt.interp.fourier import (circuit_losses, fourier_basis, frequency_energy, key_frequencies,
                                    neuron_frequencies, restricted_and_excluded_logits, sum_waves)


@pytest.mark.parametrize("p", [5, 13, 59])
def test_the_basis_is_orthonormal(p):
    basis, names = fourier_basis(p)
    assert basis.shape == (p, p) and names[:3] == ["const", "cos 1", "sin 1"] and len(names) == p
    torch.testing.assert_close(basis @ basis.T, torch.eye(p, dtype=torch.float64), atol=1e-12, rtol=0)


def test_a_planted_wave_has_all_its_energy_at_its_frequency():
    p = 13
    x = torch.arange(p).double()
    weights = torch.stack([torch.cos(2 * math.pi * 4 * x / p), 3 * torch.sin(2 * math.pi * 4 * x / p + 1),
                           0.1 * torch.cos(2 * math.pi * 2 * x / p)], dim=1)
    energy = frequency_energy(weights)
    assert energy.shape == (6,) and abs(energy.sum() - 1) < 1e-12
    assert energy.argmax() == 3 and energy[3] > 0.99
    assert key_frequencies(weights, share=0.99) == [4]
    assert key_frequencies(weights, share=0.9999) == [2, 4]


def test_neurons_are_assigned_the_frequency_of_their_waves():
    p = 11
    a = torch.arange(p).double()[:, None]
    b = torch.arange(p).double()[None, :]
    w = lambda k: 2 * math.pi * k / p  # noqa: E731
    acts = torch.stack([torch.cos(w(3) * a) * torch.cos(w(3) * b), torch.sin(w(5) * (a + b)) + 2,
                        torch.cos(w(1) * a) + 0.01 * torch.cos(w(2) * b)], dim=-1)
    frequency, share = neuron_frequencies(acts)
    assert frequency.tolist() == [3, 5, 1]
    assert share[0] > 1 - 1e-9 and share[1] > 1 - 1e-9 and 0.99 < share[2] < 1


def test_restricted_and_excluded_logits_split_along_the_key_waves():
    p = 7
    waves = sum_waves(p, [1, 2, 3])
    torch.testing.assert_close(waves @ waves.T, torch.eye(6, dtype=torch.float64), atol=1e-12, rtol=0)
    a, b = torch.cartesian_prod(torch.arange(p), torch.arange(p)).double().T
    c = torch.arange(p).double()
    # logits of the trained circuit: a sum of cos(w_k (a + b - c)) for key frequency 2, plus noise
    circuit = torch.cos(2 * math.pi * 2 * (a[:, None] + b[:, None] - c[None, :]) / p)
    noise = 0.1 * torch.randn(p * p, p, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    logits = (5 * circuit + noise).float()
    restricted, excluded = restricted_and_excluded_logits(logits, [2])
    torch.testing.assert_close(restricted + excluded, logits + logits.mean(0), atol=1e-5, rtol=0)
    assert (restricted - (5 * circuit + noise.mean(0)).float()).abs().max() < 0.1
    assert (sum_waves(p, [2]) @ excluded.double()).abs().max() < 1e-5  # nothing left along the waves
    labels = ((a + b) % p).long()
    everything = torch.arange(p * p)
    losses = circuit_losses(logits, labels, [2], everything, everything)
    assert losses["restricted_loss"] < 0.5 < math.log(p) - 0.2 < losses["excluded_loss"]
