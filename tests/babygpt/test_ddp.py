"""DistributedDataParallel: 2 CPU processes (gloo) under torchrun compute what 1 process computes
with the same global batch, through the command-line entry point."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from babygpt.model import GPT, GPTConfig

# Two accumulation micro-steps as well: each process takes its own rows of each micro-step, none twice.
ARGS = ["--config", "tiny", "--corpus", "tinyshakespeare", "--steps", "3", "--batch-size", "8", "--grad-accum", "2",
        "--warmup-steps", "1", "--eval-every", "3", "--eval-batches", "1", "--precision", "fp32", "--device", "cpu",
        "--sample-tokens", "20"]


def run(command, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_two_gloo_processes_equal_one_process(tmp_path):
    one = run([sys.executable, "-m", "babygpt.train", *ARGS, "--out", str(tmp_path / "one")], tmp_path)
    two = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "babygpt.train", *ARGS, "--out", str(tmp_path / "two")], tmp_path)
    assert "1 process(es)" in one and "2 process(es)" in two
    a, b = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    assert a.keys() == b.keys()
    # All-reducing two half-batch gradients sums the same numbers in another order: float32 rounding only.
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-5, rtol=1e-4, err_msg=name)
    # The loss each step reports is the mean over the whole global batch, all-reduced over the processes.
    losses = [json.loads((tmp_path / run / "optimizer.json").read_text())["losses"] for run in ("one", "two")]
    assert len(losses[0]) == 3
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    # Both really trained: the weights moved away from the seed-0 initialisation.
    start = GPT(GPTConfig.named("tiny"), seed=0).tok_emb.weight.detach().numpy()
    assert np.abs(a["tok_emb.weight"] - start).max() > 1e-3
