"""The exercise checks: a right answer passes, wrong answers fail with a message that says what is
wrong, and a stub is reported as not answered (lmbase.exercises.check_answer)."""

import copy

import pytest
import torch

from babygpt.exercises import (
    check_best_rank_r,
    check_kv_cache_bytes_of,
    check_outputs_with_adapter,
    check_rescaled_lora,
    check_score_matrix_bytes,
)
from babygpt.lora import load_adapter
from lmbase.exercises import check_answer


def rescaled(layer, factor):
    other = copy.deepcopy(layer)
    other.alpha, other.scaling = layer.alpha * factor, layer.alpha * factor / layer.rank
    with torch.no_grad():
        other.lora_B.div_(factor)
    return other


def best_rank_r(update, r):
    u, s, vh = torch.linalg.svd(update)
    return (u[:, :r] * s[:r]) @ vh[:r]


def outputs_with(host, folder, ids):
    load_adapter(folder, host)
    return host(ids)


def test_right_answers_pass(capsys):
    assert check_answer("Exercise 1", check_rescaled_lora, rescaled)
    assert check_answer("Exercise 2", check_best_rank_r, best_rank_r)
    assert check_answer("Exercise 3", check_outputs_with_adapter, outputs_with)
    assert capsys.readouterr().out.count("correct.") == 3


def test_a_stub_is_not_answered_yet(capsys):
    def stub(layer, factor):
        raise NotImplementedError

    assert check_answer("Exercise 1", check_rescaled_lora, stub) is False
    assert "not answered yet" in capsys.readouterr().out


def in_place(layer, factor):
    layer.alpha, layer.scaling = layer.alpha * factor, layer.alpha * factor / layer.rank
    with torch.no_grad():
        layer.lora_B.div_(factor)
    return layer


def scaling_not_updated(layer, factor):
    other = copy.deepcopy(layer)
    other.alpha = layer.alpha * factor
    with torch.no_grad():
        other.lora_B.div_(factor)
    return other


def b_multiplied(layer, factor):
    other = rescaled(layer, factor)
    with torch.no_grad():
        other.lora_B.mul_(factor * factor)
    return other


@pytest.mark.parametrize("wrong, message", [
    (in_place, "return a copy"), (scaling_not_updated, "set both"), (b_multiplied, "divided by the factor"),
])
def test_wrong_rescalings_fail_with_what_is_wrong(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_answer("Exercise 1", check_rescaled_lora, wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda update, r: update, "has rank"),  # no truncation at all
    (lambda update, r: best_rank_r(update, r + 1) if r < 2 else best_rank_r(update, r), "has rank"),
    (lambda update, r: torch.zeros_like(update), "the error is"),  # rank 0 <= r, but not the closest
    (lambda update, r: best_rank_r(update, r)[:, :-1], "has shape"),
])
def test_wrong_approximations_fail_with_what_is_wrong(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_answer("Exercise 2", check_best_rank_r, wrong)


def test_an_adapter_not_loaded_fails():
    with pytest.raises(AssertionError, match="should compute what the model that saved it computed"):
        check_answer("Exercise 3", check_outputs_with_adapter, lambda host, folder, ids: host(ids))


def score_matrix_bytes(context_length, heads, batch, bytes_per_number=4):
    return batch * heads * context_length**2 * bytes_per_number


def test_score_matrix_bytes_right_answer_passes():
    assert check_answer("Exercise 4", check_score_matrix_bytes, score_matrix_bytes)


@pytest.mark.parametrize("wrong", [
    lambda length, heads, batch, size=4: batch * length**2 * size,  # one head
    lambda length, heads, batch, size=4: batch * heads * length * size,  # T, not T x T
    lambda length, heads, batch, size=4: batch * heads * length**2 * 4,  # always float32
])
def test_score_matrix_bytes_wrong_answers_fail(wrong):
    with pytest.raises(AssertionError, match="bytes"):
        check_score_matrix_bytes(wrong)


def kv_cache_bytes_of(config, seq_len, bytes_per_value=2):
    return 2 * config.n_layer * config.n_kv_head * config.head_dim * seq_len * bytes_per_value


def test_kv_cache_bytes_of_right_answer_passes():
    assert check_answer("Exercise 1", check_kv_cache_bytes_of, kv_cache_bytes_of)


@pytest.mark.parametrize("wrong", [
    lambda c, seq_len, size=2: 2 * c.n_layer * c.n_head * c.head_dim * seq_len * size,  # no GQA
    lambda c, seq_len, size=2: c.n_layer * c.n_kv_head * c.head_dim * seq_len * size,  # keys only
])
def test_kv_cache_bytes_of_wrong_answers_fail(wrong):
    with pytest.raises(AssertionError, match="key/value heads"):
        check_kv_cache_bytes_of(wrong)
