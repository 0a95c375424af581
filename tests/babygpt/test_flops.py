"""PyTorch's FLOP counter on babygpt's models equals lmbase's count from the shape, the measured
peaks are positive rates, and the step timer times the steps it is asked to."""

import pytest
import torch

from babygpt import speed
from babygpt.flops import (counted_flops, device_description, device_kind, measured_matmul_flops,
                           measured_memory_bandwidth)
from babygpt.llama import Llama, LlamaConfig
from babygpt.model import GPT, GPTConfig
from lmbase.flops import gpt_forward_flops


@pytest.mark.parametrize("name", ["tiny", "nanogpt-baby", "babygpt-original"])
def test_counted_training_flops_are_three_forward_counts(name):
    c = GPTConfig.named(name)
    with torch.device("meta"):
        model = GPT(c)
    counted = counted_flops(model, 2, c.context)
    forward = sum(gpt_forward_flops(c.vocab_size, c.n_layer, c.d_model, c.context).values())
    assert counted["total"] == 3 * forward * 2 * c.context
    assert counted_flops(model, 2, c.context, training=False)["total"] == forward * 2 * c.context


def test_attention_is_counted_on_the_cpu_too():
    # real tensors on the CPU: the fused attention kernel would count nothing; the math backend is used
    c = LlamaConfig.named("tiny")
    counted = counted_flops(Llama(c), 1, 8, training=False)
    terms = gpt_forward_flops(c.vocab_size, c.n_layer, c.d_model, 8, d_ff=c.hidden_dim,
                              kv_dim=c.n_kv_head * c.d_model // c.n_head, mlp_matrices=3)
    assert counted["total"] == sum(terms.values()) * 8
    assert counted["bmm"] == terms["attention"] * 8
    with pytest.raises(ValueError, match="seq=0"):
        counted_flops(Llama(c), 1, 0)


def test_measured_peaks_and_the_step_timer():
    cpu = torch.device("cpu")
    assert device_kind(cpu) == "cpu"
    assert measured_matmul_flops(cpu, size=128, repeats=2) > 0
    assert measured_memory_bandwidth(cpu, n_bytes=2**20, repeats=2) > 0
    seconds = speed.step_seconds(GPTConfig.named("tiny"), 2, 3, warmup=1)
    assert len(seconds) == 3 and all(s > 0 for s in seconds)
    assert speed.median_tokens_per_second([1.0, 3.0, 2.0], 2, 64) == 64.0
    with pytest.raises(ValueError, match="steps=0"):
        speed.step_seconds(GPTConfig.named("tiny"), 2, 0)


def test_the_device_description_of_a_recorded_run(monkeypatch):
    assert device_description("cpu") == {"kind": "cpu", "name": "cpu"}
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "NVIDIA H200")
    monkeypatch.setattr("babygpt.flops.gpu_driver", lambda: "570.86.15")
    described = device_description(torch.device("cuda", 0))
    assert described == {"kind": "cuda", "name": "NVIDIA H200", "driver": "570.86.15", "cuda": torch.version.cuda}
