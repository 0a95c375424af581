"""benchmarks/nanogpt_cpu.py end to end at a tiny size, with a stand-in for nanoGPT's checkout
whose train.py prints nanoGPT's log lines: the rounds alternate, every package is timed, the
ratios are to nanoGPT's figure of the same round, and the step times read are the ones logged."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import nanogpt_cpu  # noqa: E402

FAKE_TRAIN = '''
import sys
args = dict(a[2:].split("=", 1) for a in sys.argv[2:])
assert sys.argv[1] == "config/train_shakespeare_char.py" and args["device"] == "cpu"
for i in range(int(args["max_iters"]) + 1):
    print(f"iter {i}: loss 4.1000, time {100 * (i + 1)}.00ms, mfu -100.00%")
'''
FAKE_PREPARE = '''
from pathlib import Path
text = Path("input.txt").read_text()
assert text.startswith("First Citizen")
Path("train.bin").write_bytes(b"")
'''


def fake_checkout(folder: Path) -> Path:
    (folder / "config").mkdir(parents=True)
    (folder / "data" / "shakespeare_char").mkdir(parents=True)
    (folder / "train.py").write_text(FAKE_TRAIN)
    (folder / "model.py").write_text("")
    (folder / "data" / "shakespeare_char" / "prepare.py").write_text(FAKE_PREPARE)
    return folder


def test_a_tiny_comparison_records_every_package_against_nanogpt(tmp_path, capsys):
    out = tmp_path / "nanogpt.json"
    run = nanogpt_cpu.main(["--nanogpt", str(fake_checkout(tmp_path / "nanoGPT")), "--batch-size", "2",
                            "--context", "16", "--steps", "2", "--warmup", "1", "--rounds", "2",
                            "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(run))
    results = run["results"]
    assert len(results["rounds"]) == 2 and results["nanogpt_commit"].startswith("unknown")
    for measured in results["rounds"]:
        # iterations 0 (it evaluates) and 1 (warm-up) are dropped: 2 and 3 logged 300 and 400 ms
        assert measured["nanogpt"]["seconds"] == [0.3, 0.4]
        assert measured["nanogpt"]["tokens_per_second"] == pytest.approx(2 * 16 / 0.35)
        for package in ("babygpt", "microgpt"):
            assert len(measured[package]["seconds"]) == 2
            assert measured[package]["ratio"] == pytest.approx(
                measured[package]["tokens_per_second"] / measured["nanogpt"]["tokens_per_second"])
    assert "round 2: microgpt" in capsys.readouterr().out


def test_a_folder_that_is_not_nanogpt_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a nanoGPT checkout.*--nanogpt"):
        nanogpt_cpu.prepare_nanogpt(tmp_path, tmp_path / "copy")
