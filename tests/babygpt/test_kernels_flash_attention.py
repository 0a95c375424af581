"""babygpt.kernels' online softmax, tiled attention (plain PyTorch) and peak-memory counter, against
PyTorch's softmax and F.scaled_dot_product_attention in float64."""

import pytest
import torch
import torch.nn.functional as F

from babygpt.attention import scaled_dot_product_attention
from babygpt.kernels.flash_attention import flash_attention, flash_attention_forward
from babygpt.kernels.online_softmax import online_normalizer, online_softmax
from babygpt.kernels.peak_memory import PeakMemory


def adversarial_rows():
    x = torch.randn(6, 100, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 1e4
    x[1] = float("-inf")  # a row that sees nothing: nan, as softmax gives
    x[2, :70] = float("-inf")  # -inf in the first blocks, then numbers
    x[3, 50:] = float("-inf")
    x[4, 99] = 1e300  # a huge logit in the last block
    return x


@pytest.mark.parametrize("block", [1, 7, 32, 100, 128])
def test_online_softmax_equals_softmax_on_adversarial_rows(block):
    x = adversarial_rows()
    torch.testing.assert_close(online_softmax(x, block), x.softmax(-1), equal_nan=True, rtol=1e-12, atol=0)


def test_online_normalizer_gives_the_maximum_and_the_shifted_sum():
    x = adversarial_rows()
    m, l = online_normalizer(x, 16)
    finite = ~torch.isinf(m)
    torch.testing.assert_close(m, x.amax(-1))
    torch.testing.assert_close(l[finite], torch.exp(x - x.amax(-1, keepdim=True)).sum(-1)[finite])
    assert l[1] == 0 and m[1] == float("-inf")
    with pytest.raises(ValueError, match="block=0"):
        online_normalizer(x, 0)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("seq, block_q, block_k", [(1, 16, 16), (37, 16, 32), (64, 64, 16), (100, 32, 32)])
def test_tiled_attention_equals_sdpa_in_value_and_gradients(causal, seq, block_q, block_k):
    generator = torch.Generator().manual_seed(seq)
    q, k, v = (torch.randn(2, 3, seq, 32, generator=generator, dtype=torch.float64, requires_grad=True)
               for _ in range(3))
    grad = torch.randn(2, 3, seq, 32, generator=generator, dtype=torch.float64)
    ours = flash_attention(q, k, v, causal, block_q, block_k)
    reference = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    torch.testing.assert_close(ours, reference, atol=2e-6, rtol=0)  # blocks are float32
    for got, want in zip(torch.autograd.grad(ours, (q, k, v), grad),
                         torch.autograd.grad(reference, (q, k, v), grad)):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_tiled_attention_with_more_keys_than_queries_and_its_log_sum_exp():
    generator = torch.Generator().manual_seed(1)
    q = torch.randn(1, 2, 20, 16, generator=generator)
    k, v = (torch.randn(1, 2, 45, 16, generator=generator) for _ in range(2))
    for causal in (False, True):
        out, lse = flash_attention_forward(q, k, v, causal, block_q=8, block_k=16)
        torch.testing.assert_close(out, scaled_dot_product_attention(q, k, v, causal=causal), atol=1e-6, rtol=0)
        scores = q @ k.transpose(-2, -1) / 4
        if causal:
            scores = scores.masked_fill(torch.ones(20, 45, dtype=torch.bool).tril().logical_not(), float("-inf"))
        torch.testing.assert_close(lse, scores.logsumexp(-1), atol=1e-5, rtol=0)


def test_tiled_attention_keeps_bfloat16_and_errors_name_the_shapes():
    q = torch.randn(1, 1, 10, 8, dtype=torch.bfloat16)
    assert flash_attention(q, q, q).dtype == torch.bfloat16
    with pytest.raises(ValueError, match=r"q \(1, 1, 10, 8\), k \(1, 1, 10, 4\)"):
        flash_attention(q, q[..., :4], q)
    with pytest.raises(ValueError, match="block_q=0"):
        flash_attention(q, q, q, block_q=0)


def test_peak_memory_counts_new_storages_once_and_frees_them():
    x = torch.ones(1000)
    with PeakMemory() as memory:
        y = x * 2  # 4,000 bytes
        z = y[10:].view(2, 495)  # a view: nothing new
        y.add_(1)  # in place: nothing new
        w = torch.empty(250)  # 1,000 bytes
        del w
        u = z.sum()  # 4 bytes
    assert memory.peak == 5000 and memory.live == 4004
    del y
    assert memory.live == 4004  # the view z still holds y's storage
    del z
    assert memory.live == 4 and u.item() == 3 * 990


def test_tiled_attention_peaks_far_below_the_naive_one():
    seq = 512
    q = k = v = torch.randn(1, 2, seq, 32)
    with PeakMemory() as naive:
        scaled_dot_product_attention(q, k, v, causal=True)
    with PeakMemory() as tiled:
        flash_attention_forward(q, k, v, True, 64, 64)
    scores = 2 * seq * seq * 4  # one (2 heads, T, T) float32 matrix
    assert naive.peak >= 2 * scores  # scores and weights live at once
    output = 2 * seq * 32 * 4
    assert tiled.peak < 3 * output < scores / 4
