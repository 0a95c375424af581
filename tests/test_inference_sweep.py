"""benchmarks/inference_sweep.py on the CPU, at a tiny size: the rows it records follow from what
it timed and from the arithmetic of the bytes a decoding step reads."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import inference_sweep  # noqa: E402

import torch  # noqa: E402

from babygpt.model import GPT, GPTConfig  # noqa: E402
from lmbase.recorded_runs import load_record  # noqa: E402


def test_the_gpt2_shape_has_the_124m_checkpoints_count():
    # transformers' GPT2LMHeadModel for "gpt2": 124,439,808 parameters, the head tied to wte
    with torch.device("meta"):
        assert GPT(inference_sweep.SHAPES["gpt2"]).num_parameters() == 124_439_808


def test_a_tiny_sweep_records_its_rows_with_the_bytes_each_step_reads(tmp_path, capsys):
    out = tmp_path / "results.json"
    inference_sweep.main(["--shapes", "tiny", "--batches", "1,3", "--new-tokens", "5", "--prompt-tokens", "4",
                          "--dtype", "fp32", "--device", "cpu", "--peak-bandwidth", "1e11", "--out", str(out)])
    run = load_record(out)
    assert run["command"].startswith("python benchmarks/inference_sweep.py --shapes tiny")
    assert run["versions"]["torch"] and run["device"]["kind"] == "cpu"
    results = run["results"]
    assert results["peak_bandwidth"] == 1e11
    config = GPTConfig.named("tiny")
    weight_bytes = GPT(config).num_parameters() * 4
    rows = results["shapes"]["tiny"]
    assert [r["batch"] for r in rows] == [1, 3]
    for r in rows:
        # keys and values of n_layer layers, d_model wide, float32, at 4 + (5 - 1) / 2 = 6 positions on average
        cache = r["batch"] * 6 * 2 * config.n_layer * config.d_model * 4
        assert r["bytes_per_step"] == weight_bytes + cache
        assert r["tokens_per_second"] == pytest.approx(r["batch"] * 5 / r["seconds"])
        assert r["bandwidth_utilisation"] == pytest.approx(r["bytes_per_step"] * 5 / r["seconds"] / 1e11)
        assert r["step_over_memory_floor"] == pytest.approx(1 / r["bandwidth_utilisation"])
    assert "tokens/s" in capsys.readouterr().out


def test_with_no_cache_too_it_times_the_uncached_generation_and_the_speedup(capsys):
    run = inference_sweep.main(["--shapes", "tiny", "--batches", "2", "--new-tokens", "6", "--dtype", "fp32",
                                "--device", "cpu", "--no-cache-too"])
    (row,) = run["results"]["shapes"]["tiny"]
    assert row["no_cache_seconds"] > 0
    assert row["cache_speedup"] == pytest.approx(row["no_cache_seconds"] / row["seconds"])
    assert "x faster" in capsys.readouterr().out


def test_an_unknown_shape_is_refused_with_the_known_ones():
    with pytest.raises(SystemExit):
        inference_sweep.main(["--shapes", "gpt3"])
