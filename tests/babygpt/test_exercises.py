"""The exercise checks: a right answer passes, wrong answers fail with a message that says what is
wrong, and a stub is reported as not answered (lmbase.exercises.check_answer)."""

import copy

import pytest
import torch

from babygpt.exercises import (
    check_accumulated_gradients,
    check_best_rank_r,
    check_cache_bytes,
    check_flops_per_token,
    check_kv_cache_bytes_of,
    check_outputs_with_adapter,
    check_rescaled_lora,
    check_score_matrix_bytes,
)
from babygpt.lora import load_adapter
from babygpt.model import cross_entropy
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


def accumulate_gradients(model, x, y, n_micro, scale=True, zero=True):
    if zero:
        model.zero_grad()
    for xs, ys in zip(x.chunk(n_micro), y.chunk(n_micro)):
        loss = cross_entropy(model(xs), ys)
        (loss / n_micro if scale else loss).backward()


def test_accumulated_gradients_right_answer_passes():
    assert check_answer("Exercise 2", check_accumulated_gradients, accumulate_gradients)


@pytest.mark.parametrize("wrong", [
    lambda *args: accumulate_gradients(*args, scale=False),  # the sum, n_micro times the mean
    lambda *args: accumulate_gradients(*args, zero=False),  # the previous step's gradient kept
    lambda model, x, y, n_micro: accumulate_gradients(model, x[: len(x) // n_micro],
                                                      y[: len(y) // n_micro], 1),  # one micro-batch
])
def test_accumulated_gradients_wrong_answers_fail(wrong):
    with pytest.raises(AssertionError, match="is not the whole batch's"):
        check_accumulated_gradients(wrong)


def flops_per_token(c, stack_passes=1, passes=3, attention=12, head=True):
    blocks = stack_passes * c.n_layer
    weights = blocks * 12 * c.d_model**2 + (c.vocab_size * c.d_model if head else 0)
    return passes * 2 * weights + attention * blocks * c.d_model * c.context


def test_flops_per_token_right_answer_passes():
    assert check_answer("Exercise 4", check_flops_per_token, flops_per_token)


@pytest.mark.parametrize("wrong", [
    lambda c, stack_passes=1: flops_per_token(c, 1),  # the stack counted once
    lambda c, stack_passes=1: flops_per_token(c, stack_passes, passes=1, attention=4),  # forward only
    lambda c, stack_passes=1: flops_per_token(c, stack_passes, head=False),  # no head
    lambda c, stack_passes=1: flops_per_token(c, stack_passes) - 12 * (stack_passes - 1) * c.n_layer
    * c.d_model * c.context,  # attention counted once per block, not once per application
])
def test_flops_per_token_wrong_answers_fail(wrong):
    with pytest.raises(AssertionError, match="PyTorch's counter finds"):
        check_flops_per_token(wrong)


def cache_bytes(config, batch, seq_len, bytes_per_value=2):
    return 2 * config.n_layer * config.d_model * batch * seq_len * bytes_per_value


def test_cache_bytes_right_answer_passes():
    assert check_answer("Exercise 2", check_cache_bytes, cache_bytes)


@pytest.mark.parametrize("wrong", [
    lambda c, batch, seq_len, size=2: c.n_layer * c.d_model * batch * seq_len * size,  # keys only
    lambda c, batch, seq_len, size=2: 2 * c.d_model * batch * seq_len * size,  # one layer
    lambda c, batch, seq_len, size=2: 2 * c.n_layer * c.d_model * seq_len * size,  # one sequence
    lambda c, batch, seq_len, size=2: 2 * c.n_layer * c.d_model * batch * c.context * size,  # the context
])
def test_cache_bytes_wrong_answers_fail(wrong):
    with pytest.raises(AssertionError, match="the model's caches hold"):
        check_cache_bytes(wrong)


@pytest.mark.parametrize("check", [check_accumulated_gradients, check_flops_per_token, check_cache_bytes])
def test_the_later_chapters_stubs_are_not_answered_yet(check, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError

    assert check_answer("Exercise", check, stub) is False
    assert "not answered yet" in capsys.readouterr().out
