"""The course's GPU benchmark: one call that measures what chapters 4 to 8 and 11 show from a GPU.

    PYTHONPATH=. python benchmarks/gpu_benchmark.py --out benchmarks/results/gpu-benchmark.json
    PYTHONPATH=. python benchmarks/gpu_benchmark.py --cpu --steps 2      # the CPU smoke run

It measures, on the first GPU (or, with ``--cpu``, on the CPU at small batches and contexts,
which checks the code and not the speed):

* training throughput of babygpt (torch.compile, bf16 autocast, fused AdamW) and of microgpt
  (jit, bf16) on nanoGPT's baby Shakespeare configuration and on a GPT-2-124M-shaped one: the
  median of ``--steps`` timed steps after untimed warm-up ones, tokens/s, and MFU against the
  data sheet's bf16 peak (``lmbase.flops``) and against a bf16 matmul measured on the device;
* the baby model's validation loss after ``--train-seconds`` of wall-clock training with
  babygpt's trainer on Tiny Shakespeare (nanoGPT's recipe: lr 1e-3 to 1e-4, batch 64).

It stops adding rows once ``--max-seconds`` have passed, so that one call fits a device budget,
and writes a recorded run (``lmbase.recorded_runs``: command, device, driver, versions, commit)
that chapter 11 renders.
"""

import argparse
import sys
import time

import torch

from babygpt import speed as torch_speed
from babygpt.flops import device_description, device_kind, measured_matmul_flops
from babygpt.model import GPT, GPTConfig
from babygpt.train import Trainer, TrainConfig, corpus_ids
from lmbase.flops import mfu, peak_flops, training_flops_per_token
from lmbase.recorded_runs import git_commit, record
from microgpt import speed as jax_speed
from microgpt.model import GPTConfig as MicroConfig


def shapes(cpu: bool) -> dict:
    """``{name: (babygpt config, microgpt config, batch)}``; on the CPU, small batches and contexts."""
    baby_context, gpt2_context = (32, 32) if cpu else (256, 1024)
    gpt2 = dict(vocab_size=50257, context=gpt2_context, n_layer=12, n_head=12, d_model=768)
    return {
        "baby": (GPTConfig.named("nanogpt-baby", dropout=0.0, context=baby_context),
                 MicroConfig.named("shakespeare-char", dropout=0.0, context=baby_context), 2 if cpu else 64),
        "124M": (GPTConfig(**gpt2), MicroConfig(**gpt2), 1 if cpu else 16),
    }


def throughput_row(shape: str, package: str, config: GPTConfig, batch: int, seconds: list[float],
                   peak_sheet: float | None, peak_measured: float, precision: str) -> dict:
    with torch.device("meta"):
        n_params = GPT(config).num_parameters() - config.context * config.d_model
    per_token = training_flops_per_token(n_params, config.n_layer, config.d_model, config.context)
    tokens_per_second = torch_speed.median_tokens_per_second(seconds, batch, config.context)
    return {"shape": shape, "package": package, "precision": precision, "batch": batch, "context": config.context,
            "n_params": n_params, "flops_per_token": per_token, "step_seconds": seconds,
            "tokens_per_second": tokens_per_second,
            "mfu_data_sheet": None if peak_sheet is None else mfu(tokens_per_second, per_token, peak_sheet),
            "mfu_measured": mfu(tokens_per_second, per_token, peak_measured)}


def loss_after_seconds(device: torch.device, seconds: float, max_steps: int, precision: str, compile: bool,
                       batch_size: int = 64, eval_batches: int = 200) -> dict:
    """Train the baby model for ``seconds`` of wall-clock time (or ``max_steps``); its validation loss."""
    tokenizer, train_ids, val_ids = corpus_ids("tinyshakespeare")
    config = GPTConfig.named("nanogpt-baby", vocab_size=tokenizer.vocab_size)
    train_config = TrainConfig(steps=max_steps, batch_size=batch_size, lr=1e-3, min_lr=1e-4,
                               warmup_steps=min(100, max_steps), beta2=0.99, precision=precision, compile=compile,
                               eval_every=10**9, eval_batches=eval_batches)
    trainer = Trainer(GPT(config), train_ids, val_ids, train_config, device=device, progress=False)
    started = time.perf_counter()
    while trainer.step < max_steps and time.perf_counter() - started < seconds:
        trainer.train_step()
    trainer.train_step().item()  # at least one step, and the device done with it
    elapsed = time.perf_counter() - started
    return {"steps": trainer.step, "seconds": elapsed, "val_loss": trainer.evaluate("val")}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="run on the CPU at small sizes (a smoke run)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per row")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation)")
    parser.add_argument("--train-seconds", type=float, default=20.0, help="wall-clock budget of the loss row")
    parser.add_argument("--max-seconds", type=float, default=480.0, help="add no row after this long")
    parser.add_argument("--shapes", default="baby,124M", help="comma-separated, from baby and 124M")
    parser.add_argument("--out", default=None, help="write the recorded run here as JSON")
    args = parser.parse_args(argv)
    wanted = args.shapes.split(",")
    if not set(wanted) <= {"baby", "124M"}:
        parser.error(f"--shapes {args.shapes}: the shapes are baby and 124M")
    started, commit = time.perf_counter(), git_commit()
    device = torch.device("cpu" if args.cpu or not torch.cuda.is_available() else "cuda")
    on_gpu = device.type == "cuda"
    precision, compile = ("bf16", True) if on_gpu else ("fp32", False)
    kind = device_kind(device)
    peak_sheet = peak_flops(kind) if on_gpu else None
    peak_measured = measured_matmul_flops(device, size=8192 if on_gpu else 1024,
                                          dtype=torch.bfloat16 if on_gpu else torch.float32)
    print(f"{kind}: data-sheet peak {peak_sheet}, measured matmul {peak_measured / 1e12:.2f} TFLOP/s", flush=True)
    rows = []
    for shape, (torch_config, jax_config, batch) in shapes(not on_gpu).items():
        if shape not in wanted:
            continue
        runs = [("babygpt", lambda: torch_speed.step_seconds(torch_config, batch, args.steps, args.warmup, precision,
                                                             device, compile=compile)),
                ("microgpt", lambda: jax_speed.step_seconds(jax_config, batch, args.steps, args.warmup, precision))]
        for package, timed in runs:
            if time.perf_counter() - started > args.max_seconds:
                print(f"stopped before {shape} {package}: --max-seconds {args.max_seconds} passed")
                break
            row = throughput_row(shape, package, torch_config, batch, timed(), peak_sheet, peak_measured, precision)
            rows.append(row)
            sheet = "n/a" if row["mfu_data_sheet"] is None else f"{100 * row['mfu_data_sheet']:.1f} %"
            print(f"{shape:>5} {package:>9}: {row['tokens_per_second']:12,.0f} tokens/s, MFU {sheet} of the data "
                  f"sheet, {100 * row['mfu_measured']:.1f} % of the measured matmul", flush=True)
    loss = None
    if time.perf_counter() - started < args.max_seconds:
        # the GPU's run is nanoGPT's (batch 64, 200 evaluation batches); the CPU's, a check of the code
        batch, eval_batches = (64, 200) if on_gpu else (2, 2)
        loss = loss_after_seconds(device, args.train_seconds, 10**9 if on_gpu else args.steps, precision, compile,
                                  batch, eval_batches)
        print(f"baby model: validation loss {loss['val_loss']:.4f} after {loss['steps']} steps in "
              f"{loss['seconds']:.1f} s", flush=True)
    results = {"peak_data_sheet": peak_sheet, "peak_measured": peak_measured, "rows": rows,
               "loss_after_seconds": loss, "seconds": time.perf_counter() - started}
    if args.out:
        command = "PYTHONPATH=. python benchmarks/gpu_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
        record(args.out, command.strip(), device_description(device), results, ("torch", "jax", "jaxlib", "optax"), commit)
    return results


if __name__ == "__main__":
    main()
