"""babygpt.kernels' Triton kernels, run on the CPU by Triton's interpreter (TRITON_INTERPRET=1, which
babygpt.kernels sets when there is no GPU), against PyTorch's softmax and
F.scaled_dot_product_attention in float64."""

import pytest
import torch
import torch.nn.functional as F

from babygpt.kernels import triton_interprets
from babygpt.kernels.triton_flash_attention import triton_flash_attention
from babygpt.kernels.triton_softmax import triton_softmax

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="tests the interpreter: a CUDA machine compiles")


def test_without_a_gpu_the_package_makes_triton_interpret():
    assert triton_interprets()


def test_triton_softmax_equals_softmax_on_ragged_rows_large_logits_and_minus_inf():
    x = torch.randn(3, 4, 77, generator=torch.Generator().manual_seed(0)) * 1e3
    x[0, 1, :60] = float("-inf")
    x[2, 3, 5] = 1e30
    torch.testing.assert_close(triton_softmax(x), x.softmax(-1), atol=1e-7, rtol=1e-6)
    half = x.to(torch.bfloat16)
    torch.testing.assert_close(triton_softmax(half), half.float().softmax(-1).to(torch.bfloat16))


def test_triton_softmax_of_small_logits_on_a_row_that_is_not_a_power_of_two():
    # logits of order 1: a padded column that leaked into the sum (exp(0 - max) is not ~0 then)
    # would show, where the large logits above hide it
    x = torch.randn(5, 77, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(triton_softmax(x), x.softmax(-1), atol=1e-7, rtol=1e-6)


def test_triton_softmax_refuses_rows_it_cannot_hold():
    with pytest.raises(ValueError, match="rows of 70000 columns.*1 to 65536"):
        triton_softmax(torch.zeros(1, 70_000))


def attention_case(seq, d_head, dtype, seed):
    generator = torch.Generator().manual_seed(seed)
    q, k, v, grad = (torch.randn(2, 2, seq, d_head, generator=generator).to(dtype) for _ in range(4))
    return [x.requires_grad_() for x in (q, k, v)], grad


def check_against_sdpa(seq, d_head, dtype, causal, block_q, block_k, atol_out, atol_grad):
    (q, k, v), grad = attention_case(seq, d_head, dtype, seed=seq + d_head)
    ours = triton_flash_attention(q, k, v, causal, block_q, block_k)
    assert ours.dtype == dtype
    wide = [x.detach().double().requires_grad_() for x in (q, k, v)]
    reference = F.scaled_dot_product_attention(*wide, is_causal=causal)
    torch.testing.assert_close(ours.double(), reference, atol=atol_out, rtol=0)
    got = torch.autograd.grad(ours, (q, k, v), grad)
    want = torch.autograd.grad(reference, wide, grad.double())
    for name, g, w in zip("qkv", got, want):
        assert g.dtype == dtype
        torch.testing.assert_close(g.double(), w, atol=atol_grad, rtol=0, msg=f"d{name}")


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("d_head", [32, 64, 128])
def test_float32_kernels_equal_sdpa_for_every_head_dim_at_a_ragged_length(causal, d_head):
    # float32 sums of up to 128 products and an online softmax: a few units of 1e-6 on outputs
    # near 1 (1e-6 failed on one element in 23,040 on one machine)
    check_against_sdpa(45, d_head, torch.float32, causal, 16, 32, atol_out=4e-6, atol_grad=5e-6)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("seq, block_q, block_k", [(1, 16, 16), (16, 16, 16), (70, 32, 16), (96, 64, 32)])
def test_float32_kernels_equal_sdpa_for_lengths_and_blocks(causal, seq, block_q, block_k):
    check_against_sdpa(seq, 32, torch.float32, causal, block_q, block_k, atol_out=4e-6, atol_grad=5e-6)


@pytest.mark.parametrize("causal", [False, True])
def test_bfloat16_kernels_equal_sdpa_within_bfloat16s_rounding(causal):
    # bfloat16 keeps 8 bits of mantissa: outputs of size ~1 round by up to 2^-8; the gradients
    # sum ~50 rounded products
    check_against_sdpa(50, 64, torch.bfloat16, causal, 16, 16, atol_out=1.6e-2, atol_grad=6e-2)


def test_bad_inputs_get_errors_that_name_the_value_and_the_fix():
    q = torch.zeros(1, 2, 16, 32)
    with pytest.raises(ValueError, match=r"d_head=48 is not supported.*\(32, 64, 128\)"):
        triton_flash_attention(*(torch.zeros(1, 2, 16, 48),) * 3)
    with pytest.raises(ValueError, match=r"q \(1, 2, 16, 32\) and k \(1, 2, 8, 32\)"):
        triton_flash_attention(q, q[:, :, :8], q[:, :, :8])
    with pytest.raises(ValueError, match=r"do not fit"):
        triton_flash_attention(q, q, q[..., :16])
    strided = torch.zeros(1, 16, 2, 32).transpose(1, 2)
    with pytest.raises(ValueError, match=r"k \(strides .*\) is not contiguous.*k\.contiguous\(\)"):
        triton_flash_attention(q, strided, q)
    with pytest.raises(ValueError, match=r"give q, k and v one dtype"):
        triton_flash_attention(q, q.double(), q)
    with pytest.raises(ValueError, match="block_q=24"):
        triton_flash_attention(q, q, q, block_q=24)
    with pytest.raises(ValueError, match=r"on meta.*\.to\('cpu'\)"):
        triton_flash_attention(*(torch.zeros(1, 2, 16, 32, device="meta"),) * 3)


def test_importing_triton_first_without_a_gpu_is_refused_with_the_fix():
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    run = subprocess.run([sys.executable, "-c", "import triton, babygpt.kernels"], env=environment,
                         capture_output=True, text=True)
    assert run.returncode != 0 and "import babygpt.kernels first" in run.stderr
    run = subprocess.run([sys.executable, "-c", "import babygpt.kernels, os; print(os.environ['TRITON_INTERPRET'])"],
                         env=environment, capture_output=True, text=True)
    assert run.stdout.strip() == "1", run.stderr
