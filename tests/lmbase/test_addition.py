"""Chapter 13's addition task: formats that parse back, correct steps, disjoint splits, scoring."""

import itertools
import random

import pytest
from scipy.stats import binomtest

from lmbase import addition
from lmbase.addition import FORMATS, VOCAB, Problem, carries, completion, parse, prompt, text


def problems_of_every_carry_pattern(n):
    """For each of the 2**n carry patterns, a problem that has it (found by search)."""
    found = {}
    low = 10 ** (n - 1) if n > 1 else 0
    rng = random.Random(0)
    while len(found) < 2**n:
        a, b = rng.randrange(low, 10**n), rng.randrange(low, 10**n)
        found.setdefault(tuple(carries(a, b, n)), Problem(a, b, n))
    return found


def test_the_seeds_example_and_the_four_formats():
    p = Problem(45, 27, 2)
    assert text(p, "scratchpad") == "45+27=5+7=12,4+2+1=7,ans:72."
    assert text(p, "plain") == "45+27=72."
    assert text(p, "reversed") == "45+27=27."
    assert text(p, "scratchpad_reversed") == "54+72=5+7=12,4+2+1=7,ans:27."
    assert len(VOCAB) == 18 and all(set(text(p, f)) <= set(VOCAB) for f in FORMATS)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_every_format_parses_back_to_the_right_sum_for_every_carry_pattern(n):
    for pattern, p in problems_of_every_carry_pattern(n).items():
        for fmt in FORMATS:
            assert parse(text(p, fmt), fmt) == p
            assert addition.read_answer(completion(p, fmt), fmt) == p.a + p.b


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_scratchpad_steps_are_arithmetically_right_for_every_carry_pattern(n):
    for pattern, p in problems_of_every_carry_pattern(n).items():
        steps = addition.scratchpad_steps(p.a, p.b, n)
        assert len(steps) == n
        carry_in = 0
        for i, step in enumerate(steps):
            left, total = step.split("=")
            terms = [int(t) for t in left.split("+")]
            assert terms[:2] == [p.a // 10**i % 10, p.b // 10**i % 10]
            assert terms[2:] == ([1] if carry_in else [])  # the carry, written only when there is one
            assert int(total) == sum(terms)
            carry_in = int(total) >= 10
            assert carry_in == pattern[i]


def test_a_wrong_sum_or_a_malformed_example_is_an_error_that_names_it():
    with pytest.raises(ValueError, match="answers 73, but 45\\+27=72"):
        parse("45+27=73.", "plain")
    with pytest.raises(ValueError, match="prompt 'a\\+b='"):
        parse("45-27=72.", "plain")
    with pytest.raises(ValueError, match="equal width"):
        parse("45+7=52.", "plain")


@pytest.mark.parametrize("written, fmt", [
    ("72", "plain"),  # never ended
    ("7x2.", "plain"),
    ("", "reversed"),
    ("5+7=12,4+2+1=7,72.", "scratchpad"),  # no ans:
    ("5+7=12,ans:.", "scratchpad"),
    ("٧٢.", "plain"),  # digits that are not ASCII
])
def test_a_malformed_answer_reads_as_none_and_counts_as_wrong(written, fmt):
    assert addition.read_answer(written, fmt) is None
    assert addition.exact_match([Problem(45, 27, 2)], [written], fmt) == [False]


def test_the_answer_is_read_up_to_the_first_end_and_only_the_answer_is_scored():
    assert addition.read_answer("72.123", "plain") == 72
    assert addition.read_answer("5+7=99,ans:72.", "scratchpad") == 72  # the steps are not checked
    assert addition.exact_match([Problem(45, 27, 2)] * 2, ["72.", "27."], "reversed") == [False, True]


def test_bad_input_names_the_value_and_the_fix():
    with pytest.raises(ValueError, match="format 'binary' does not exist: pick one of"):
        prompt(Problem(1, 2, 1), "binary")
    for n in (0, -1, 2.0):
        with pytest.raises(ValueError, match=f"n_digits={n!r} must be an integer of at least 1"):
            addition.draw_problems(n, 10, seed=0)
    with pytest.raises(ValueError, match="at most 50"):
        addition.draw_problems(1, 51, seed=0)
    with pytest.raises(ValueError, match="one answer per problem"):
        addition.exact_match([Problem(1, 2, 1)], [], "plain")


def test_draws_are_deterministic_distinct_and_balanced_over_carries():
    first = addition.draw_problems(3, 4000, seed=3)
    assert first == addition.draw_problems(3, 4000, seed=3)
    assert first != addition.draw_problems(3, 4000, seed=4)
    assert len(set(first)) == 4000
    assert all(100 <= p.a <= 999 and 100 <= p.b <= 999 for p in first)
    counts = [0] * 4
    for p in first:
        counts[sum(carries(p.a, p.b, 3))] += 1
    assert all(abs(c - 1000) < 120 for c in counts), counts  # uniform over 0..3 carrying columns


def test_train_and_test_share_no_problem_and_the_test_set_does_not_depend_on_the_train_size():
    train, test = addition.train_test_split([1, 2, 3], 30, 20, seed=0)
    for n in (1, 2, 3):
        assert len(train[n]) == 30 and len(test[n]) == 20
        assert not set(train[n]) & set(test[n])
        assert all(p.n_digits == n for p in train[n] + test[n])
    _, again = addition.train_test_split([1, 2, 3], 10, 20, seed=0)
    assert again == test


def test_accuracy_interval_on_a_hand_made_set_and_against_scipy():
    problems = [Problem(a, b, 1) for a, b in itertools.product(range(3), range(3))]
    written = [f"{p.total}." if i % 3 else "0." for i, p in enumerate(problems)]
    right = addition.exact_match(problems, written, "plain")
    assert sum(right) == 7  # the rows 0, 3, 6 answer 0: only 0+0 is right
    low, high = addition.wilson_interval(sum(right), len(right))
    reference = binomtest(sum(right), len(right)).proportion_ci(method="wilson")
    assert (low, high) == pytest.approx((reference.low, reference.high), abs=1e-12)
    assert addition.wilson_interval(0, 10)[0] == 0 and addition.wilson_interval(10, 10)[1] == 1
    with pytest.raises(ValueError, match="correct=11 of total=10"):
        addition.wilson_interval(11, 10)
