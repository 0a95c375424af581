"""lmbase.batches: the two ways of drawing random windows, in sequence and by step."""

import numpy as np
import pytest

from lmbase.batches import BatchSampler

IDS = np.arange(1000)


def test_a_batch_is_windows_and_their_next_tokens():
    for x, y in (BatchSampler(IDS, 4, 8, seed=3).sample(), BatchSampler(IDS, 4, 8, seed=3).at_step(2)):
        assert x.shape == y.shape == (4, 8)
        assert np.array_equal(x[:, 1:], y[:, :-1]) and np.array_equal(y[:, -1], x[:, -1] + 1)


def test_the_batch_of_a_step_needs_no_state():
    sampler = BatchSampler(IDS, 4, 8, seed=3)
    first = sampler.at_step(7)
    for _ in range(3):
        sampler.sample()  # drawing in sequence does not move the batches of the steps
    assert np.array_equal(sampler.at_step(7)[0], first[0])
    assert np.array_equal(BatchSampler(IDS, 4, 8, seed=3).at_step(7)[0], first[0])
    assert not np.array_equal(sampler.at_step(8)[0], first[0])
    assert not np.array_equal(BatchSampler(IDS, 4, 8, seed=4).at_step(7)[0], first[0])


def test_the_batches_of_steps_are_the_ones_recorded_runs_were_trained_on():
    # babygpt's course models were trained on these windows: (seed, step) seeds numpy's default_rng
    sampler = BatchSampler(IDS, 4, 8, seed=3)
    assert sampler.at_step(1)[0][:, 0].tolist() == [970, 251, 574, 403]
    assert sampler.at_step(7)[0][:, 0].tolist() == [526, 676, 959, 595]


def test_a_text_too_short_for_the_context_is_refused():
    with pytest.raises(ValueError, match="too few for windows of context=8"):
        BatchSampler(np.arange(8), 4, 8).at_step(0)
