"""A scaling-law sweep on Tiny Shakespeare (babygpt.scaling_sweep), recorded for chapter 11.

    PYTHONPATH=. python benchmarks/scaling_sweep.py --out benchmarks/results/scaling-sweep-cpu.json

Trains every (budget, width) pair of ``--grid`` once on the CPU, one thread (small models are
overhead-bound: a second thread makes them slower on a shared machine), and records each run's
size, tokens, compute and validation loss with the command, machine and commit.
"""

import argparse
import sys
import time

import torch

from babygpt.scaling_sweep import FULL_GRID, run_sweep
from babygpt.train import corpus_ids
from lmbase.recorded_runs import git_commit, record

def parse_grid(text: str) -> dict:
    """``"4e9:8,16,24;1.2e10:16,24,32"`` -> ``{4e9: [8, 16, 24], 1.2e10: [16, 24, 32]}``."""
    grid = {}
    for part in text.split(";"):
        budget, widths = part.split(":")
        grid[float(budget)] = [int(w) for w in widths.split(",")]
    return grid


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", type=parse_grid, default=FULL_GRID,
                        help='budgets and widths, e.g. "4e9:8,16,24;1.2e10:16,24,32"')
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="write the record here as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    _, train_ids, val_ids = corpus_ids("tinyshakespeare")
    started, commit = time.perf_counter(), git_commit()

    def show(run):
        print(f"C {run.budget:.2g}  d {run.d_model:3d}  N {run.n_params:7,d}  {run.steps:5d} steps  "
              f"val loss {run.val_loss:.4f}  ({time.perf_counter() - started:.0f} s)", flush=True)

    runs = run_sweep(args.grid, train_ids, val_ids, progress=show)
    results = {"corpus": "tinyshakespeare", "train_tokens": int(len(train_ids)), "threads": args.threads,
               "seconds": time.perf_counter() - started, "runs": [vars(run) for run in runs]}
    if args.out:
        command = "PYTHONPATH=. python benchmarks/scaling_sweep.py " + " ".join(argv if argv is not None else sys.argv[1:])
        record(args.out, command.strip(), {"kind": "cpu", "name": "CPU"}, results, ("torch", "numpy"), commit)
    return results


if __name__ == "__main__":
    main()
