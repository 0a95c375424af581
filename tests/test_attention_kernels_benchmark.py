"""benchmarks/attention_kernels.py on the CPU, at a tiny size through Triton's interpreter: the rows
it records follow from what it timed and from attention's FLOPs, and our kernel's output equals
PyTorch's."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import attention_kernels  # noqa: E402

from lmbase.attention_arithmetic import attention_flops  # noqa: E402


def test_a_tiny_sweep_records_every_kernel_with_its_tflops_and_the_training_speed(tmp_path):
    out = tmp_path / "results.json"
    attention_kernels.main(["--device", "cpu", "--seqs", "48", "--head-dims", "32", "--dtype", "fp32",
                            "--tokens", "96", "--d-model", "64", "--blocks", "16x16,32x16", "--repeats", "1",
                            "--train-config", "tiny", "--train-n-head", "2", "--train-context", "32",
                            "--train-batch", "2", "--train-steps", "1", "--out", str(out)])
    results = json.loads(out.read_text())
    assert results["command"].startswith("python benchmarks/attention_kernels.py --device cpu")
    assert results["versions"]["triton"] and results["commit"]
    rows = results["rows"]
    assert [(r["kernel"], r["causal"]) for r in rows] == [(k, c) for c in (False, True)
                                                           for k in ("triton", "sdpa", "naive")]
    for r in rows:
        assert (r["batch"], r["n_head"]) == (2, 2)
        forward = attention_flops(2, 2, 48, 32, r["causal"])
        assert r["forward_tflops"] == pytest.approx(forward / r["forward_s"] / 1e12)
        both = forward + attention_flops(2, 2, 48, 32, r["causal"], backward=True)
        assert r["forward_backward_tflops"] == pytest.approx(both / r["forward_backward_s"] / 1e12)
        assert r["max_diff_from_sdpa"] < 1e-5
        assert (r["blocks"] in ("16x16", "32x16")) == (r["kernel"] == "triton")
    training = results["training"]
    assert set(training["tokens_per_second"]) == {"sdpa", "triton"}
    assert training["triton_over_sdpa"] == pytest.approx(
        training["tokens_per_second"]["triton"] / training["tokens_per_second"]["sdpa"])


def test_the_kernels_attention_block_computes_what_babygpts_computes():
    import torch

    from babygpt.model import CausalSelfAttention, GPTConfig

    config = GPTConfig.named("tiny", n_head=2, dropout=0.0)
    theirs = CausalSelfAttention(config)
    ours = attention_kernels.KernelAttention(config)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 20, 64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-6, rtol=0)


def test_a_block_shape_the_gpu_cannot_hold_is_skipped_and_recorded(monkeypatch):
    from triton.runtime.errors import OutOfResources

    real = attention_kernels.triton_flash_attention

    def small_shared_memory(q, k, v, causal, block_q, block_k):
        if block_q == 32:
            raise OutOfResources(98304, 65536, "shared memory")
        return real(q, k, v, causal, block_q, block_k)

    monkeypatch.setattr(attention_kernels, "triton_flash_attention", small_shared_memory)
    results = attention_kernels.main(["--device", "cpu", "--seqs", "32", "--head-dims", "32", "--causal", "1",
                                      "--dtype", "fp32", "--tokens", "32", "--d-model", "32",
                                      "--blocks", "16x16,32x16", "--repeats", "1", "--train-steps", "0"])
    assert [s["kernel"] for s in results["skipped"]] == ["triton 32x16"]
    assert [(r["kernel"], r["blocks"]) for r in results["rows"]] == [("triton", "16x16"), ("sdpa", None),
                                                                    ("naive", None)]
    assert "stopped_after_s" not in results
    stopped = attention_kernels.main(["--device", "cpu", "--seqs", "32", "--head-dims", "32", "--tokens", "32",
                                      "--d-model", "32", "--train-steps", "0", "--max-seconds", "0"])
    assert stopped["rows"] == [] and stopped["stopped_after_s"] == 0
