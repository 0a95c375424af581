"""Probes: they find a planted linear feature on held-out rows, and fail on shuffled labels."""

import pytest
import torch

from babygpt.interp.modular import all_pairs, modular_addition_model
from babygpt.interp.probes import accuracy, fit_probe, probe_accuracy, residual_stream


def planted(n=600, d=16, classes=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=generator)
    directions = torch.randn(classes, d, generator=generator)
    features = 0.3 * torch.randn(n, d, generator=generator) + directions[labels]
    return features, labels


def test_a_linear_probe_reads_a_planted_linear_feature_on_held_out_rows():
    features, labels = planted()
    train, test = torch.arange(400), torch.arange(400, 600)
    assert probe_accuracy(features, labels, 5, train, test) > 0.95


def test_on_shuffled_labels_it_memorises_but_scores_chance_on_held_out_rows():
    features, labels = planted(n=300, d=64)
    shuffled = labels[torch.randperm(300, generator=torch.Generator().manual_seed(1))]
    train, test = torch.arange(150), torch.arange(150, 300)
    probe = fit_probe(features[train], shuffled[train], 5, steps=1000)
    assert accuracy(probe, features[train], shuffled[train]) > 0.9  # memorised ...
    assert accuracy(probe, features[test], shuffled[test]) < 0.35  # ... and nothing learned
    # probe_accuracy reports the held-out number, never the memorised one
    assert probe_accuracy(features, shuffled, 5, train, test, steps=1000) < 0.35


def test_an_mlp_probe_reads_what_a_linear_one_cannot():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1000, 2, generator=generator)
    labels = (features[:, 0] * features[:, 1] > 0).long()  # XOR of the signs: not linear
    train, test = torch.arange(700), torch.arange(700, 1000)
    assert probe_accuracy(features, labels, 2, train, test) < 0.7
    assert probe_accuracy(features, labels, 2, train, test, hidden=32) > 0.9


def test_overlapping_rows_are_refused():
    features, labels = planted(n=20)
    with pytest.raises(ValueError, match="overlap"):
        probe_accuracy(features, labels, 5, torch.arange(12), torch.arange(10, 20))


def test_the_residual_stream_of_each_layer_and_a_layer_that_does_not_exist():
    model = modular_addition_model(7, 16, n_head=2).eval()
    ids, _ = all_pairs(7)
    embeddings = residual_stream(model, ids, layer=0)
    torch.testing.assert_close(embeddings, model.tok_emb.weight[7] + model.pos_emb.weight[2]
                               + torch.zeros(49, 16))
    assert residual_stream(model, ids, layer=1).shape == (49, 16)
    with pytest.raises(ValueError, match=r"layer=2 does not exist.*from 0 \(the embeddings\) to 1"):
        residual_stream(model, ids, layer=2)
