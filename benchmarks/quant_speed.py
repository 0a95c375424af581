"""Generation speed of the course's trained BabyGPT in each quantized format, at several batch
sizes: the speed column of chapter 10's table, on whatever device is at hand.

    PYTHONPATH=. python benchmarks/quant_speed.py --out benchmarks/results/quant-speed-h200.json
    python benchmarks/quant_speed.py --device cpu --batches 1 --new-tokens 4   # a CPU check

Each format is made from the float model by ``babygpt.quant`` (round-to-nearest; GPTQ changes
which codes are stored, not how fast they are read) and timed by greedy generation of
``--new-tokens`` tokens with the KV cache after an untimed warm-up (``inference_sweep.measure``).
On a GPU ``bf16`` computes in bf16; elsewhere every format computes in float32. A format the
device cannot run (``torch._int_mm`` on a GPU wants more than 16 rows) is recorded with the
error instead of a speed. The results go to ``--out`` with their command, device, driver,
versions and commit (``lmbase.recorded_runs``).
"""

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference_sweep import measure  # noqa: E402
from babygpt.flops import device_description  # noqa: E402

from babygpt.course_models import load  # noqa: E402
from babygpt.quant import quantize_linears  # noqa: E402
from lmbase.recorded_runs import git_commit, record  # noqa: E402

# label -> the arguments of quantize_linears (None: the float model as it is)
FORMATS = {
    "fp32": None,
    "bf16": None,
    "int8 per channel": dict(bits=8),
    "Q8_0 g64 (int8 x int8)": dict(bits=8, group_size=64, activations=True),
    "int4 per channel": dict(bits=4),
    "int4 g32": dict(bits=4, group_size=32),
    "int3 per channel": dict(bits=3),
}


def quantized(model, label: str, device: torch.device):
    """A copy of the float ``model`` in format ``label``, on ``device``."""
    other = copy.deepcopy(model)
    if FORMATS[label]:
        quantize_linears(other, **FORMATS[label])
    other = other.to(device)
    if label == "bf16":
        other = other.bfloat16() if device.type == "cuda" else other.bfloat16().float()
    return other.eval()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="babygpt-shakespeare", help="a babygpt course model")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=100)
    parser.add_argument("--formats", default=",".join(FORMATS), help=f"comma-separated, from {list(FORMATS)}")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    labels = args.formats.split(",")
    unknown = [label for label in labels if label not in FORMATS]
    if unknown:
        parser.error(f"unknown formats {unknown}: choose from {list(FORMATS)}")
    commit, device = git_commit(), torch.device(args.device)
    model, _ = load(args.model)
    rows = []
    with torch.no_grad():
        for label in labels:
            candidate = quantized(model, label, device)
            for batch in (int(b) for b in args.batches.split(",")):
                row = {"format": label, "batch": batch, "new_tokens": args.new_tokens}
                try:
                    seconds = measure(candidate, batch, args.prompt_tokens, args.new_tokens, device)
                    row.update(seconds=seconds, tokens_per_second=batch * args.new_tokens / seconds)
                    print(f"{label:24} batch {batch:>3}: {row['tokens_per_second']:10.1f} tokens/s")
                except RuntimeError as error:
                    row["error"] = str(error).splitlines()[0]
                    print(f"{label:24} batch {batch:>3}: cannot run here ({row['error']})")
                rows.append(row)
    results = {"model": args.model, "rows": rows}
    if args.out:
        command = "python benchmarks/quant_speed.py " + " ".join(sys.argv[1:] if argv is None else argv)
        record(args.out, command, device_description(device), results,
               libraries=("torch", "numpy"), commit=commit)
    return results


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"done in {time.perf_counter() - started:.0f} s")
