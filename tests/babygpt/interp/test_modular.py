"""The modular-addition task and its model."""

import pytest
import torch
from torch import nn

from babygpt.interp.modular import (GrokkingConfig, all_pairs, check_prime, first_epoch, modular_addition_model,
                                    train_grokking, train_test_split)


@pytest.mark.parametrize("p", [57, 2, 1, 100])
def test_a_p_that_is_not_prime_is_refused_naming_it(p):
    with pytest.raises(ValueError, match=rf"p={p} is not a prime.*pick a prime"):
        check_prime(p)


def test_every_pair_once_with_its_sum():
    ids, labels = all_pairs(7)
    assert ids.shape == (49, 3) and (ids[:, 2] == 7).all()
    assert len({tuple(r) for r in ids[:, :2].tolist()}) == 49
    assert torch.equal(labels, (ids[:, 0] + ids[:, 1]) % 7)
    assert ids[3 * 7 + 5, :2].tolist() == [3, 5]


def test_the_split_is_a_partition_of_the_pairs():
    train, test = train_test_split(11, 0.3, seed=1)
    assert len(train) == round(0.3 * 121) and len(train) + len(test) == 121
    assert not set(train.tolist()) & set(test.tolist())
    assert torch.equal(train, train_test_split(11, 0.3, seed=1)[0])
    with pytest.raises(ValueError, match="train_fraction=1.5"):
        train_test_split(11, 1.5)


def test_the_model_has_no_layernorm_and_reads_p_plus_one_tokens():
    model = modular_addition_model(7, 16, n_head=2)
    assert model.config.vocab_size == 8 and model.config.context == 3 and model.config.n_layer == 1
    assert isinstance(model.ln_f, nn.Identity) and isinstance(model.blocks[0].ln1, nn.Identity)
    assert not model.config.tie_head
    reference = modular_addition_model(7, 16, n_head=2, init_scale=1.0)
    torch.testing.assert_close(model.head.weight, 5 * reference.head.weight)


def test_training_lowers_the_training_loss_and_records_history():
    config = GrokkingConfig(p=7, train_fraction=0.5, d_model=16, n_head=2, lr=1e-2, epochs=40, eval_every=10)
    model, history = train_grokking(config, callback=lambda m, epoch: {"epoch_seen": epoch})
    assert history["epoch"] == [10, 20, 30, 40] and history["epoch_seen"] == history["epoch"]
    assert history["train_loss"][-1] < history["train_loss"][0] and not model.training
    assert first_epoch(history, "train_loss", history["train_loss"][0], above=False) == 20
    assert first_epoch(history, "train_acc", 2.0) is None


def test_no_layernorm_is_left_anywhere_in_the_model():
    model = modular_addition_model(7, 16, n_head=2)
    assert not [name for name, m in model.named_modules() if isinstance(m, nn.LayerNorm)]


def test_the_answer_logits_are_the_last_positions_over_the_p_residues_only():
    from babygpt.interp.modular import answer_logits

    model = modular_addition_model(7, 16, n_head=2).eval()
    ids, _ = all_pairs(7)
    with torch.no_grad():
        logits, full = answer_logits(model, ids), model(ids)
    assert logits.shape == (49, 7)  # not the '=' token's logit: it is never an answer
    torch.testing.assert_close(logits, full[:, -1, :7])
