"""XLA's count of microgpt's FLOPs: the matrix products of lmbase's count and a few per cent of
elementwise work; the step timer times the steps it is asked to."""

import pytest

from lmbase.flops import gpt_forward_flops
from microgpt import speed
from microgpt.flops import counted_flops, device_kind, measured_matmul_flops, measured_memory_bandwidth
from microgpt.model import GPTConfig


@pytest.mark.parametrize("name", ["tiny", "shakespeare-pair"])
def test_xla_counts_the_matrices_and_a_little_more(name):
    c = GPTConfig.named(name, dropout=0.0)
    forward = sum(gpt_forward_flops(c.vocab_size, c.n_layer, c.d_model, c.context).values()) * c.context
    counted_forward = counted_flops(c, 1, training=False)
    counted_training = counted_flops(c, 1)
    assert forward < counted_forward < 1.08 * forward
    assert 3 * forward < counted_training < 1.08 * 3 * forward
    # the same count scales with the batch
    assert counted_flops(c, 2, training=False) == pytest.approx(2 * counted_forward, rel=1e-3)
    with pytest.raises(ValueError, match="batch=0"):
        counted_flops(c, 0)


def test_measured_peaks_and_the_step_timer():
    assert device_kind() == "cpu"
    assert measured_matmul_flops(size=128, repeats=2) > 0
    assert measured_memory_bandwidth(n_bytes=2**20, repeats=2) > 0
    seconds = speed.step_seconds(GPTConfig.named("tiny"), 2, 2, warmup=1)
    assert len(seconds) == 2 and all(s > 0 for s in seconds)
    with pytest.raises(ValueError, match="steps=0"):
        speed.step_seconds(GPTConfig.named("tiny"), 2, 0)
