"""benchmarks/grokking.py on the CPU, at a tiny size: the results file records the run's curves,
key frequencies and provenance."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import grokking  # noqa: E402


def test_a_tiny_run_writes_its_curves_and_key_frequencies(tmp_path, capsys):
    out = tmp_path / "grokking.json"
    results = grokking.main(["--p", "7", "--d-model", "16", "--epochs", "20", "--eval-every", "10",
                             "--device", "cpu", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    assert results["command"].startswith("python benchmarks/grokking.py --p 7")
    assert results["config"]["p"] == 7 and results["config"]["epochs"] == 20
    history = results["history"]
    assert history["epoch"] == [10, 20]
    for key in ("train_loss", "test_loss", "train_acc", "test_acc", "restricted_loss", "excluded_loss"):
        assert len(history[key]) == 2, key
    assert results["key_frequencies"] and all(1 <= k <= 3 for k in results["key_frequencies"])
    assert sum(results["neuron_frequency_counts"].values()) <= 64
    assert results["device"]["kind"] == "cpu" and results["versions"]["torch"]
    assert "key frequencies" in capsys.readouterr().out
