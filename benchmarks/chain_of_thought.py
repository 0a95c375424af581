"""Chapter 13's full-mode comparison (up to 5 digits), for a GPU.

    PYTHONPATH=. python benchmarks/chain_of_thought.py --out benchmarks/results/cot-full-gpu.json
    python benchmarks/chain_of_thought.py --digits 1 --n-train 30 --n-test 20 --d-model 16 \\
        --n-layer 1 --steps 3 --device cpu   # a CPU check

Trains what the chapter trains, with ``babygpt.cot.comparison`` at its ``FULL`` sizes unless
told otherwise: a GPT and a LLaMA in each of the four formats for the same number of steps,
then the GPT's plain and reversed formats for the training FLOPs of its scratchpad. Each run's
exact-match scores by number of digits (the last one longer than any trained on) go to
``--out`` as a recorded run (``lmbase.recorded_runs``: command, device, driver, versions,
commit), for the chapter to render. ``--max-seconds`` stops before a device budget runs out,
keeping the runs finished.
"""

import argparse
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from babygpt.cot.comparison import FULL, KINDS, equal_flops_steps, problem_sets, train_and_score
from babygpt.flops import device_description
from lmbase.addition import FORMATS
from lmbase.recorded_runs import git_commit, record


def parse_sizes(args):
    """``FULL`` with the sizes given on the command line; ``--digits D`` trains on 2..D digits
    (on 1 digit for D = 1)."""
    digits = None if args.digits is None else tuple(range(min(2, args.digits), args.digits + 1))
    given = {"train_digits": digits, "n_train": args.n_train, "n_test": args.n_test, "d_model": args.d_model,
             "n_layer": args.n_layer, "steps": args.steps}
    return replace(FULL, **{k: v for k, v in given.items() if v is not None})


def planned_runs(kinds, formats):
    """(kind, format, budget) in the order they run: equal steps first, then equal FLOPs."""
    plan = [(kind, fmt, "steps") for kind in kinds for fmt in formats]
    if "gpt" in kinds and "scratchpad" in formats:
        plan += [("gpt", fmt, "flops") for fmt in ("plain", "reversed") if fmt in formats]
    return plan


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, help=f"train on 2..D digits (default {max(FULL.train_digits)})")
    parser.add_argument("--n-train", type=int, help="training problems per length")
    parser.add_argument("--n-test", type=int, help="test problems per length")
    parser.add_argument("--d-model", type=int)
    parser.add_argument("--n-layer", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--max-seconds", type=float, default=float("inf"))
    parser.add_argument("--out", type=Path, help="where to write the recorded run (JSON)")
    args = parser.parse_args(argv)
    sizes, device, commit = parse_sizes(args), torch.device(args.device), git_commit()
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls; recorded below
    train, test = problem_sets(sizes)
    started, runs = time.perf_counter(), {}
    for kind, fmt, budget in planned_runs(args.kinds, args.formats):
        if time.perf_counter() - started > args.max_seconds:
            print(f"stopped after {len(runs)} runs: --max-seconds {args.max_seconds} reached")
            break
        steps = sizes.steps
        if budget == "flops":
            steps = equal_flops_steps(runs["gpt", "scratchpad", "steps"], runs["gpt", fmt, "steps"], sizes)
        run = train_and_score(kind, fmt, train, test, sizes, steps=steps, device=device)
        runs[kind, fmt, budget] = run
        scores = "  ".join(f"{n}: {k / m:6.1%}" for n, (k, m) in run["scores"].items())
        print(f"{kind:<5} {fmt:<19} {budget:<5} {steps:>6} steps {run['seconds']:6.1f} s  {scores}", flush=True)
    results = {
        "sizes": asdict(sizes), "tf32": device.type == "cuda",
        "seconds": round(time.perf_counter() - started, 1),
        "runs": [{"kind": kind, "format": fmt, "budget": budget, "steps": run["steps"],
                  "seconds": round(run["seconds"], 1), "loss": run["loss"],
                  "scores": {str(n): list(score) for n, score in run["scores"].items()}}
                 for (kind, fmt, budget), run in runs.items()],
    }
    command = "python benchmarks/chain_of_thought.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.out:
        return record(args.out, command, device_description(device), results, ("torch", "numpy"), commit)
    return {"command": command, "results": results}


if __name__ == "__main__":
    main()
