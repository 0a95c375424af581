"""benchmarks/chain_of_thought.py on the CPU, at a tiny size: the recorded run holds every
planned run's scores, the equal-FLOPs steps and the provenance."""

import json
from argparse import Namespace
import sys
from pathlib import Path

from babygpt.cot.comparison import FULL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import chain_of_thought  # noqa: E402


def test_a_tiny_run_records_every_model_and_format(tmp_path, capsys):
    out = tmp_path / "cot.json"
    run = chain_of_thought.main(["--digits", "1", "--n-train", "30", "--n-test", "20", "--d-model", "16",
                                 "--n-layer", "1", "--steps", "3", "--device", "cpu", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(run))
    assert run["command"].startswith("python benchmarks/chain_of_thought.py --digits 1")
    assert run["device"]["kind"] == "cpu" and run["versions"]["torch"] and run["commit"]
    results = json.loads(out.read_text())["results"]
    assert results["sizes"]["train_digits"] == [1] and results["sizes"]["n_head"] == FULL.n_head
    budgets = [(r["kind"], r["format"], r["budget"]) for r in results["runs"]]
    assert len(budgets) == 10 and budgets[-2:] == [("gpt", "plain", "flops"), ("gpt", "reversed", "flops")]
    for r in results["runs"]:
        assert set(r["scores"]) == {"1", "2"} and all(total == 20 for _, total in r["scores"].values())
    flops_steps = {r["format"]: r["steps"] for r in results["runs"] if r["budget"] == "flops"}
    assert flops_steps["plain"] == flops_steps["reversed"] > 2 * 3  # rows far shorter than a scratchpad's
    assert "gpt   plain" in capsys.readouterr().out


def test_the_default_sizes_are_the_chapters_full_mode():
    unset = dict(n_train=None, n_test=None, d_model=None, n_layer=None, steps=None)
    assert chain_of_thought.parse_sizes(Namespace(digits=None, **unset)) == FULL
    assert chain_of_thought.parse_sizes(Namespace(digits=4, **unset)).train_digits == (2, 3, 4)
