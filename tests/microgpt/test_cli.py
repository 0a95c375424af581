"""The command line trains a named configuration on a named corpus, checkpoints, and samples."""

import json
import math

from microgpt import checkpoint
from microgpt.train import main


def test_cli_trains_checkpoints_and_samples(tmp_path, capsys):
    out = tmp_path / "run"
    history = main(["--config", "tiny", "--corpus", "tinyshakespeare", "--steps", "6", "--batch-size", "4",
                    "--context", "32", "--eval-every", "3", "--sample-tokens", "40", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "validation loss" in printed
    assert [row["step"] for row in history] == [3, 6]
    assert history[-1]["val_loss"] < math.log(65)
    params, config, data = checkpoint.load(out)
    assert config.vocab_size == 65 and config.context == 32
    assert len(data["tokenizer"]["chars"]) == 65
    state = json.loads((out / "optimizer.json").read_text())
    assert state["step"] == 6 and len(state["losses"]) == 6 and state["history"] == history
    # the sample: the prompt "\n" and 40 characters of the corpus's alphabet, printed last
    sample = printed.rstrip("\n").split("checkpoint in")[-1].split("\n", 1)[1]
    assert len(sample) >= 40 and set(sample) <= set(data["tokenizer"]["chars"])
