"""lmbase.recorded_runs: the driver's version where nvidia-smi answers, and a plain word where it
cannot, and a record that round-trips with every field."""

import subprocess

import pytest

from lmbase import recorded_runs


def test_the_gpu_driver_is_read_from_nvidia_smi_or_said_unknown(monkeypatch):
    answered = subprocess.CompletedProcess([], 0, stdout="570.86.15\n570.86.15\n", stderr="")
    monkeypatch.setattr(recorded_runs.subprocess, "run", lambda *a, **k: answered)
    assert recorded_runs.gpu_driver() == "570.86.15"  # one line per GPU: the first
    silent = subprocess.CompletedProcess([], 9, stdout="", stderr="no devices")
    monkeypatch.setattr(recorded_runs.subprocess, "run", lambda *a, **k: silent)
    assert recorded_runs.gpu_driver() == "unknown"

    def missing(*args, **kwargs):
        raise FileNotFoundError("nvidia-smi")

    monkeypatch.setattr(recorded_runs.subprocess, "run", missing)
    assert recorded_runs.gpu_driver() == "unknown (no nvidia-smi)"


def test_a_record_round_trips_and_an_incomplete_one_is_refused(tmp_path):
    path = tmp_path / "run.json"
    assert recorded_runs.load_record(path) is None
    written = recorded_runs.record(path, "python run.py", {"kind": "cpu", "name": "cpu"}, {"x": 1},
                                   commit="abc")
    assert recorded_runs.load_record(path) == written and written["commit"] == "abc"
    path.write_text('{"command": "python run.py"}')
    with pytest.raises(ValueError, match="lacks"):
        recorded_runs.load_record(path)
