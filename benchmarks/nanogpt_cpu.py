"""Training speed of babygpt and microgpt against nanoGPT's own train.py, on the same machine, in
the same call, on nanoGPT's baby Shakespeare configuration (6 layers, 6 heads, 384 channels,
context 256, batch 64, dropout 0.2, float32).

    python benchmarks/nanogpt_cpu.py --nanogpt PATH --out benchmarks/results/nanogpt-cpu.json
    python benchmarks/nanogpt_cpu.py --nanogpt PATH --batch-size 2 --context 32 --steps 2  # a check

``PATH`` is a checkout of https://github.com/karpathy/nanoGPT; its files are copied to a
temporary folder, where its ``data/shakespeare_char/prepare.py`` reads our copy of Tiny
Shakespeare (nothing is downloaded). Each package runs in a fresh process, in rounds that
alternate the order, so that a machine's drift falls on all three alike:

* nanoGPT: ``train.py config/train_shakespeare_char.py --device=cpu --compile=False``, logging
  every iteration; its own printed ``time ...ms`` per iteration is the step time (data, forward,
  backward, clipping, the optimizer step and the loss read back);
* babygpt: ``babygpt.speed.step_seconds`` (the course's ``Trainer.train_step``, its batch drawn
  from the token ids, the loss read back);
* microgpt: ``microgpt.speed.step_seconds`` (the jitted training step, the loss waited for).

Each reports the median of ``--steps`` steps after ``--warmup`` untimed ones (nanoGPT's first
iteration also evaluates: it is always dropped), as tokens/s, and its ratio to nanoGPT's in the
same round. The figures go to ``--out`` as a recorded run (``lmbase.recorded_runs``).
"""

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from lmbase.corpora import load_text
from lmbase.recorded_runs import git_commit, record

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nanogpt", "babygpt", "microgpt")
NANOGPT_ITER = re.compile(r"^iter (\d+): loss [\d.]+, time ([\d.]+)ms", re.MULTILINE)
# One step-timing call per package, run as ``python -c`` from the repository's root: prints the
# step seconds as JSON. The configuration is nanoGPT's baby model with the sizes given.
TIMERS = {
    "babygpt": ("from babygpt import speed; from babygpt.model import GPTConfig; import json; "
                "c = GPTConfig.named('nanogpt-baby', context={context}); "
                "print(json.dumps(speed.step_seconds(c, {batch}, {steps}, warmup={warmup})))"),
    "microgpt": ("from microgpt import speed; from microgpt.model import GPTConfig; import json; "
                 "c = GPTConfig.named('shakespeare-char', context={context}); "
                 "print(json.dumps(speed.step_seconds(c, {batch}, {steps}, warmup={warmup})))"),
}


def prepare_nanogpt(source: Path, folder: Path) -> Path:
    """nanoGPT's files copied into ``folder``, with Tiny Shakespeare encoded by its prepare.py."""
    if not (source / "train.py").exists() or not (source / "model.py").exists():
        raise FileNotFoundError(f"{source} is not a nanoGPT checkout (no train.py and model.py): clone "
                                f"https://github.com/karpathy/nanoGPT and pass its folder as --nanogpt")
    copy = folder / "nanoGPT"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".git", "assets"))
    data = copy / "data" / "shakespeare_char"
    (data / "input.txt").write_text(load_text("tinyshakespeare"), encoding="utf-8")
    subprocess.run([sys.executable, "prepare.py"], cwd=data, check=True, capture_output=True)
    return copy


def nanogpt_seconds(copy: Path, batch: int, context: int, steps: int, warmup: int) -> list[float]:
    """nanoGPT's own step times, in seconds, of ``steps`` iterations after ``warmup`` + 1."""
    last = warmup + steps  # iterations 0 .. last run; 0 evaluates and is dropped with the warm-up
    command = [sys.executable, "train.py", "config/train_shakespeare_char.py", "--device=cpu", "--compile=False",
               f"--batch_size={batch}", f"--block_size={context}", f"--max_iters={last}",
               f"--lr_decay_iters={last}", "--eval_iters=1", "--log_interval=1", "--eval_interval=1000000",
               f"--out_dir={copy / 'out'}"]
    done = subprocess.run(command, cwd=copy, check=True, capture_output=True, text=True)
    times = {int(i): float(ms) / 1000 for i, ms in NANOGPT_ITER.findall(done.stdout)}
    return [times[i] for i in range(warmup + 1, last + 1)]


def package_seconds(package: str, batch: int, context: int, steps: int, warmup: int) -> list[float]:
    code = TIMERS[package].format(batch=batch, context=context, steps=steps, warmup=warmup)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nanogpt", type=Path, required=True, help="a checkout of karpathy/nanoGPT")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, help="where to write the recorded run (JSON)")
    args = parser.parse_args(argv)
    commit = git_commit()
    tokens_per_step = args.batch_size * args.context
    rounds = []
    with tempfile.TemporaryDirectory() as folder:
        copy = prepare_nanogpt(args.nanogpt, Path(folder))
        for r in range(args.rounds):
            order = PACKAGES if r % 2 == 0 else PACKAGES[::-1]
            measured = {}
            for package in order:
                if package == "nanogpt":
                    seconds = nanogpt_seconds(copy, args.batch_size, args.context, args.steps, args.warmup)
                else:
                    seconds = package_seconds(package, args.batch_size, args.context, args.steps, args.warmup)
                measured[package] = {"seconds": seconds,
                                     "tokens_per_second": tokens_per_step / statistics.median(seconds)}
            for package in PACKAGES:
                measured[package]["ratio"] = (measured[package]["tokens_per_second"]
                                              / measured["nanogpt"]["tokens_per_second"])
                print(f"round {r + 1}: {package:<9} {measured[package]['tokens_per_second']:9,.0f} tokens/s "
                      f"({measured[package]['ratio']:.2f}x nanoGPT)", flush=True)
            rounds.append(measured)
    nanogpt_commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=args.nanogpt, capture_output=True,
                                    text=True).stdout.strip() or "unknown (not a git checkout)"
    results = {"batch_size": args.batch_size, "context": args.context, "steps": args.steps,
               "warmup": args.warmup, "nanogpt_commit": nanogpt_commit, "rounds": rounds}
    command = "python benchmarks/nanogpt_cpu.py " + " ".join(sys.argv[1:] if argv is None else argv)
    device = {"kind": "cpu", "name": "cpu"}
    if args.out:
        return record(args.out, command, device, results, ("torch", "jax", "jaxlib", "numpy"), commit)
    return {"command": command, "results": results}


if __name__ == "__main__":
    main()
