"""The JAX chapters' exercise checks: a right answer passes, wrong answers fail with a message
that says what is wrong, and a stub is reported as not answered (lmbase.exercises.check_answer)."""

import jax
import jax.numpy as jnp
import pytest

from lmbase.exercises import check_answer
from microgpt.exercises import check_count_by_hand, check_top_p_filter
from microgpt.generate import top_p_filter as package_top_p_filter


def stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("check", [check_count_by_hand, check_top_p_filter])
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
