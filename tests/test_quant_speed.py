"""benchmarks/quant_speed.py on the CPU, at a tiny size: one row per format and batch, recorded
with its provenance."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import quant_speed  # noqa: E402


def test_the_cpu_path_times_every_format_and_records_the_run(tmp_path):
    out = tmp_path / "speed.json"
    results = quant_speed.main(["--device", "cpu", "--batches", "1,2", "--new-tokens", "2",
                                "--prompt-tokens", "4", "--formats", "fp32,int4 g32,Q8_0 g64 (int8 x int8)",
                                "--out", str(out)])
    assert [(r["format"], r["batch"]) for r in results["rows"]] == [
        ("fp32", 1), ("fp32", 2), ("int4 g32", 1), ("int4 g32", 2),
        ("Q8_0 g64 (int8 x int8)", 1), ("Q8_0 g64 (int8 x int8)", 2)]
    for row in results["rows"]:
        assert row["tokens_per_second"] == pytest.approx(row["batch"] * 2 / row["seconds"])
    saved = json.loads(out.read_text())
    assert saved["results"] == json.loads(json.dumps(results)) and saved["device"]["kind"] == "cpu"
    assert {"command", "commit", "versions", "machine"} <= saved.keys()


def test_an_unknown_format_is_refused_with_the_known_ones():
    with pytest.raises(SystemExit):
        quant_speed.main(["--formats", "int5"])
