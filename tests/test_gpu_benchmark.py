"""benchmarks/gpu_benchmark.py's CPU smoke path (--cpu --steps 2): every row it records follows
from the steps it timed, and the recorded run carries its provenance. No timing is asserted."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import gpu_benchmark  # noqa: E402

from lmbase.recorded_runs import load_record  # noqa: E402


def test_the_cpu_smoke_run_records_both_packages(tmp_path, capsys):
    # the baby shape only: the 124M one takes minutes on two cores (its shape is checked below)
    out = tmp_path / "gpu.json"
    gpu_benchmark.main(["--cpu", "--steps", "2", "--warmup", "1", "--train-seconds", "0", "--shapes", "baby",
                        "--out", str(out)])
    run = load_record(out)
    assert run["command"] == f"PYTHONPATH=. python benchmarks/gpu_benchmark.py --cpu --steps 2 --warmup 1 " \
                             f"--train-seconds 0 --shapes baby --out {out}"
    assert run["device"]["kind"] == "cpu" and run["versions"]["torch"] and run["versions"]["jax"]
    results = run["results"]
    assert [(r["shape"], r["package"]) for r in results["rows"]] == [("baby", "babygpt"), ("baby", "microgpt")]
    for row in results["rows"]:
        assert len(row["step_seconds"]) == 2 and row["mfu_data_sheet"] is None  # a CPU has no data sheet
        tokens = row["batch"] * row["context"]
        median = sorted(row["step_seconds"])[0] / 2 + sorted(row["step_seconds"])[1] / 2
        assert row["tokens_per_second"] == pytest.approx(tokens / median)
        assert row["mfu_measured"] == pytest.approx(row["tokens_per_second"] * row["flops_per_token"]
                                                    / results["peak_measured"])
    assert results["rows"][0]["n_params"] == 10_646_784  # nanoGPT's baby model, less its position table
    loss = results["loss_after_seconds"]
    assert loss["steps"] == 1 and loss["val_loss"] > 0
    assert "tokens/s" in capsys.readouterr().out


def test_the_124m_shape_is_gpt2_small():
    import torch

    from babygpt.model import GPT

    for cpu in (True, False):
        torch_config, jax_config, _ = gpu_benchmark.shapes(cpu)["124M"]
        with torch.device("meta"):
            n = GPT(torch_config).num_parameters()
        assert n == 124_439_808 - (1024 - torch_config.context) * 768  # GPT-2 small at its context
        assert (jax_config.n_layer, jax_config.d_model, jax_config.vocab_size) == (12, 768, 50257)


def test_an_unknown_shape_is_refused():
    import pytest as _pytest

    with _pytest.raises(SystemExit):
        gpu_benchmark.main(["--cpu", "--shapes", "gpt3"])


def test_max_seconds_stops_adding_rows(tmp_path, capsys):
    results = gpu_benchmark.main(["--cpu", "--steps", "1", "--warmup", "1", "--max-seconds", "0"])
    assert results["rows"] == [] and results["loss_after_seconds"] is None
    assert "stopped before baby babygpt" in capsys.readouterr().out
