"""The JAX chapters' exercise checks: a right answer passes, wrong answers fail with a message
that says what is wrong, and a stub is reported as not answered (lmbase.exercises.check_answer)."""

import math

import jax
import jax.numpy as jnp
import pytest

from lmbase.exercises import check_answer
from microgpt.exercises import (
    check_adamw_step,
    check_count_by_hand,
    check_first_step_below,
    check_top_p_filter,
)
from microgpt.generate import top_p_filter as package_top_p_filter


def stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("check", [check_count_by_hand, check_top_p_filter, check_first_step_below,
                                   check_adamw_step])
def test_a_stub_is_not_answered_yet(check, capsys):
    assert check_answer("Exercise", check, stub) is False
    assert "not answered yet" in capsys.readouterr().out


# ---- chapter 4 ----------------------------------------------------------------------------------

def count_by_hand(c, norms=None, final=None, ffn_biases=None):
    d = c.d_model
    norms = (2 if c.block == "pre_norm" else 1) if norms is None else norms
    ffn_biases = 5 * d if ffn_biases is None else ffn_biases
    final = c.final_norm if final is None else final
    per_block = 12 * d * d + ffn_biases + 2 * d * norms
    return c.vocab_size * d + c.n_layer * per_block + (2 * d if final else 0)


def test_count_by_hand_right_answer_passes():
    assert check_answer("Exercise 1", check_count_by_hand, count_by_hand)


@pytest.mark.parametrize("wrong", [
    lambda c: count_by_hand(c, norms=1),  # one LayerNorm per block, whatever the style
    lambda c: count_by_hand(c, final=False),  # no final LayerNorm
    lambda c: count_by_hand(c, ffn_biases=4 * c.d_model),  # only the first FFN bias
    lambda c: count_by_hand(c) + c.vocab_size * c.d_model,  # an untied head
])
def test_count_by_hand_wrong_answers_fail(wrong):
    with pytest.raises(AssertionError, match="parameters, but the model has"):
        check_count_by_hand(wrong)


def top_p_filter(logits, p):
    return package_top_p_filter(logits, p)


def test_top_p_filter_right_answer_passes():
    assert check_answer("Exercise 3", check_top_p_filter, top_p_filter)


def crossing_token_dropped(logits, p):
    order = jnp.argsort(-logits, axis=-1)
    probs = jnp.take_along_axis(jax.nn.softmax(logits, axis=-1), order, axis=-1)
    keep_sorted = (jnp.cumsum(probs, axis=-1) <= p) | (p >= 1)
    keep = jnp.take_along_axis(keep_sorted, jnp.argsort(order, axis=-1), axis=-1)
    return jnp.where(keep, logits, -jnp.inf)


def softmax_over_the_batch(logits, p):
    order = jnp.argsort(-logits, axis=-1)
    probs = jnp.take_along_axis(jax.nn.softmax(logits, axis=0), order, axis=-1)
    keep_sorted = (jnp.cumsum(probs, axis=-1) - probs < p) | (p >= 1)
    keep = jnp.take_along_axis(keep_sorted, jnp.argsort(order, axis=-1), axis=-1)
    return jnp.where(keep, logits, -jnp.inf)


def p_one_not_special(logits, p):
    order = jnp.argsort(-logits, axis=-1)
    probs = jnp.take_along_axis(jax.nn.softmax(logits, axis=-1), order, axis=-1)
    keep_sorted = jnp.cumsum(probs, axis=-1) - probs < p
    keep = jnp.take_along_axis(keep_sorted, jnp.argsort(order, axis=-1), axis=-1)
    return jnp.where(keep, logits, -jnp.inf)


@pytest.mark.parametrize("wrong", [crossing_token_dropped, softmax_over_the_batch, p_one_not_special])
def test_top_p_filter_wrong_answers_fail(wrong):
    with pytest.raises(AssertionError, match="the nucleus is"):
        check_top_p_filter(wrong)


def test_top_p_filter_changing_the_kept_logits_fails():
    with pytest.raises(AssertionError, match="logits changed"):
        check_top_p_filter(lambda logits, p: jax.nn.log_softmax(top_p_filter(logits, p)))


# ---- chapter 5 ----------------------------------------------------------------------------------

def first_step_below(target, peak, warmup, decay_steps, end):
    x = math.acos(2 * (target - end) / (peak - end) - 1)
    return math.floor(warmup + x / math.pi * (decay_steps - warmup)) + 1


def test_first_step_below_right_answer_passes():
    assert check_answer("Exercise 2", check_first_step_below, first_step_below)


@pytest.mark.parametrize("wrong", [
    lambda target, peak, w, s, end: first_step_below(target, peak, w, s, end) - 1,  # the last step above
    lambda target, peak, w, s, end: first_step_below(target, peak, 0, s, end),  # no warmup offset
    lambda target, peak, w, s, end: first_step_below(target, peak, w, s, 0.0),  # decays to 0
    lambda target, peak, w, s, end: math.floor(w + math.acos(
        2 * (target - end) / (peak - end) - 1) / math.pi * s) + 1,  # a cosine over s, not s - w
])
def test_first_step_below_wrong_answers_fail(wrong):
    with pytest.raises(AssertionError, match="expected"):
        check_first_step_below(wrong)


def adamw_step(theta, g, m, v, u, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.01, correct=True,
               decoupled=True, decay_lr=True):
    if not decoupled:
        g = g + wd * theta
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g**2
    m_hat, v_hat = (m / (1 - b1**u), v / (1 - b2**u)) if correct else (m, v)
    step = m_hat / (jnp.sqrt(v_hat) + eps)
    decay = (lr if decay_lr else 1.0) * wd * theta if decoupled else 0.0
    return theta - lr * step - decay, m, v


def test_adamw_step_right_answer_passes():
    assert check_answer("Exercise 4", check_adamw_step, adamw_step)


@pytest.mark.parametrize("wrong", [
    lambda *a: adamw_step(*a, correct=False),  # no bias correction
    lambda theta, g, m, v, u, *rest: adamw_step(theta, g, m, v, u + 1, *rest),  # steps counted from 0
    lambda *a: adamw_step(*a, decoupled=False),  # Adam with L2: the decay goes through the moments
    lambda *a: adamw_step(*a, decay_lr=False),  # the decay not scaled by the learning rate
])
def test_adamw_step_wrong_answers_fail(wrong):
    with pytest.raises(AssertionError, match="differ from optax's"):
        check_adamw_step(wrong)
