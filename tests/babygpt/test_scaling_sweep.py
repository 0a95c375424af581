"""The scaling sweep spends each budget, counts parameters both ways, and refuses grids it cannot fit."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from babygpt.model import GPT
from babygpt.scaling_sweep import counted_params, run_sweep, sweep_config
from lmbase.chinchilla import training_flops
from lmbase.recorded_runs import load_record

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import scaling_sweep as sweep_script  # noqa: E402

RNG = np.random.default_rng(0)
TRAIN, VAL = RNG.integers(0, 65, 5000), RNG.integers(0, 65, 2000)


@pytest.fixture(autouse=True)
def one_thread():
    # models this small are overhead-bound: a second thread only adds contention
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_each_run_spends_its_budget_within_one_step():
    seen = []
    runs = run_sweep({6e7: [8, 16, 24]}, TRAIN, VAL, context=16, batch_size=4, eval_batches=1, progress=seen.append)
    assert seen == runs and [r.d_model for r in runs] == [8, 16, 24]
    for run in runs:
        step_flops = training_flops(run.n_params, 4 * 16)
        assert run.tokens == run.steps * 4 * 16
        assert abs(run.flops - run.budget) <= step_flops / 2
        assert np.isfinite(run.val_loss) and run.val_loss > 0
    assert runs[0].steps > runs[1].steps > runs[2].steps  # a smaller model reads more tokens


def test_parameters_are_counted_without_positions_and_without_embeddings():
    config = sweep_config(16, context=32)
    model = GPT(config)
    n, n_without = counted_params(model)
    assert n == sum(p.numel() for p in model.parameters()) - 32 * 16
    assert n - n_without == 65 * 16  # the tied token table, counted once
    assert config.n_head == 2
    with pytest.raises(ValueError, match="d_model=12 must be a multiple of 8"):
        sweep_config(12)


def test_grids_that_cannot_be_fitted_are_refused():
    with pytest.raises(ValueError, match=r"widths \[8, 16\]: an IsoFLOP curve needs at least three model sizes"):
        run_sweep({6e7: [8, 16]}, TRAIN, VAL)
    with pytest.raises(ValueError, match=r"gives the 2,096-parameter model 1 steps: raise the budget"):
        run_sweep({1e6: [8, 16, 24]}, TRAIN, VAL, context=16, batch_size=4)


def test_the_sweep_script_records_its_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_script, "corpus_ids", lambda corpus: (None, TRAIN, VAL))
    monkeypatch.setattr(sweep_script, "run_sweep",
                        lambda grid, train, val, progress: run_sweep(grid, train, val, context=16, batch_size=4,
                                                                     eval_batches=1, progress=progress))
    out = tmp_path / "sweep.json"
    sweep_script.main(["--grid", "6e7:8,16,24", "--out", str(out)])
    run = load_record(out)
    assert run["command"] == "PYTHONPATH=. python benchmarks/scaling_sweep.py --grid 6e7:8,16,24 --out " + str(out)
    assert [r["d_model"] for r in run["results"]["runs"]] == [8, 16, 24]
    assert run["versions"]["torch"] == torch.__version__.split("+")[0] or run["versions"]["torch"]
    assert sweep_script.parse_grid("4e9:8,16;1e10:16") == {4e9: [8, 16], 1e10: [16]}
