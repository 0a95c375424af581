"""Training throughput of babygpt: tokens/s, MFU and the loss reached, for a named configuration.

Trains ``--config`` (default nanoGPT's "baby" Shakespeare model: 6 layers, 6 heads, 384 channels,
context 256, batch 64, character vocabulary) on Tiny Shakespeare with the course's trainer for
``--steps`` optimizer steps, times the steps after ``--warmup`` untimed ones, and prints:

* tokens/s: batch × context × timed steps / timed seconds (the device is synchronised first);
* MFU: ``6 N + 12 L d T`` FLOPs per token (``lmbase.flops``) × tokens/s over the device's peak.
  On a GPU listed in ``lmbase.flops.PEAK_FLOPS`` the peak is its dense bf16 data-sheet figure; on
  a CPU (or an unlisted GPU) it is the FLOP/s of a large float32 matmul measured here, so the CPU
  figure is "fraction of what this CPU's matmul reaches", not of a data-sheet number;
* the validation loss reached at the end.

Not a test: the figures depend on the machine. Examples::

    python -m babygpt.speed --steps 5 --warmup 1          # CPU, a few steps
    python -m babygpt.speed --steps 5000 --compile        # full run on a GPU
"""

import argparse
import statistics
import time

import torch

from lmbase.flops import mfu, peak_flops, training_flops_per_token

from .flops import measured_matmul_flops, synchronize
from .model import GPT, GPTConfig
from .train import Trainer, TrainConfig, corpus_ids


def step_seconds(config: GPTConfig, batch_size: int, steps: int, warmup: int = 1, precision: str = "fp32",
                 device=None, compile: bool = False, seed: int = 0) -> list[float]:
    """Seconds of each of ``steps`` training steps of the course's trainer on ``config`` (random
    tokens: the speed does not depend on them), after ``warmup`` untimed ones; each step ends with
    its loss read back, so the device is done with it. Compare medians of the same ``steps``."""
    if steps < 1:
        raise ValueError(f"steps={steps}: time at least one step")
    rng = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, config.vocab_size, (4 * config.context * 4,), generator=rng).numpy()
    train_config = TrainConfig(steps=warmup + steps, batch_size=batch_size, warmup_steps=1, precision=precision,
                               compile=compile, eval_every=10**9, seed=seed)
    trainer = Trainer(GPT(config, seed=seed), ids, ids, train_config, device=device, progress=False)
    for _ in range(warmup):
        trainer.train_step().item()
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.train_step().item()
        seconds.append(time.perf_counter() - start)
    return seconds


def median_tokens_per_second(seconds: list[float], batch_size: int, context: int) -> float:
    """Tokens per second of the median step: steady state, robust to a slow step on a shared machine."""
    return batch_size * context / statistics.median(seconds)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m babygpt.speed", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="nanogpt-baby")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation, allocator)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="auto", choices=("fp32", "bf16", "fp16", "auto"))
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--device", default=None)
    parser.add_argument("--eval-batches", type=int, default=200)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads on a CPU")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    tokenizer, train_ids, val_ids = corpus_ids("tinyshakespeare")
    config = GPTConfig.named(args.config, vocab_size=tokenizer.vocab_size)
    # nanoGPT's train_shakespeare_char.py settings: lr 1e-3 -> 1e-4 over the run, warmup 100, beta2 0.99.
    train_config = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, lr=1e-3, min_lr=1e-4, warmup_steps=min(100, args.steps),
        beta2=0.99, weight_decay=0.1, grad_clip=1.0, precision=args.precision, compile=args.compile,
        eval_every=10**9, eval_batches=args.eval_batches,
    )
    trainer = Trainer(GPT(config), train_ids, val_ids, train_config, device=args.device, progress=False)
    device = trainer.device
    n_params = trainer.model.num_parameters() - trainer.model.pos_emb.weight.numel()
    flops_per_token = training_flops_per_token(n_params, config.n_layer, config.d_model, config.context)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{args.config}: {n_params:,} parameters (without positions), {trainer.precision}, "
          f"compile={args.compile}, device {device_name}, {torch.get_num_threads()} CPU threads")

    for _ in range(min(args.warmup, args.steps - 1)):
        trainer.train_step()
    synchronize(device)
    timed_steps = args.steps - trainer.step
    start = time.perf_counter()
    for _ in range(timed_steps):
        last = trainer.train_step()
    train_loss = last.item()  # synchronises
    synchronize(device)
    seconds = time.perf_counter() - start
    tokens_per_second = timed_steps * args.batch_size * config.context / seconds

    listed = peak_flops(device_name) if device.type == "cuda" else None
    if listed is not None:
        peak, peak_source = listed, f"{device_name}'s dense bf16 data-sheet peak"
    else:
        peak, peak_source = measured_matmul_flops(device), "a float32 2048² matmul measured here"
    utilization = mfu(tokens_per_second, flops_per_token, peak)
    val_loss = trainer.evaluate("val")
    print(f"timed {timed_steps} steps in {seconds:.2f} s: {seconds / timed_steps * 1000:.0f} ms/step, "
          f"{tokens_per_second:,.0f} tokens/s")
    print(f"{flops_per_token / 1e6:.1f} MFLOPs/token -> {flops_per_token * tokens_per_second / 1e12:.3f} TFLOP/s; "
          f"MFU {100 * utilization:.1f}% of {peak / 1e12:.2f} TFLOP/s ({peak_source})")
    print(f"after {trainer.step} steps: last train batch loss {train_loss:.4f}, val loss {val_loss:.4f}")


if __name__ == "__main__":
    main()
