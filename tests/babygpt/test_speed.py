"""The training-speed benchmark runs end to end and prints what it measured."""

import re

from babygpt import speed


def test_the_benchmark_prints_tokens_per_second_mfu_and_the_loss(capsys):
    speed.main(["--config", "tiny", "--steps", "3", "--warmup", "1", "--batch-size", "4", "--eval-batches", "1",
                "--precision", "fp32"])
    out = capsys.readouterr().out
    assert re.search(r"timed 2 steps in [\d.]+ s: \d+ ms/step, [\d,]+ tokens/s", out), out
    assert re.search(r"MFU [\d.]+% of [\d.]+ TFLOP/s \(a float32 2048² matmul measured here\)", out), out
    assert re.search(r"after 3 steps: last train batch loss [\d.]+, val loss [\d.]+", out), out
