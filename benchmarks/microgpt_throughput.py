"""Training throughput of microgpt: tokens per second and MFU for a named configuration.

    python benchmarks/microgpt_throughput.py --config shakespeare-char          # 6 layers, 6 heads,
    python benchmarks/microgpt_throughput.py --config seed-10m --batch-size 64  # 384 wide, ctx 256, batch 64

The default, ``shakespeare-char`` with batch 64, is the same work babygpt's benchmark measures
(character vocabulary of 65), so the two frameworks can be compared. The step is the real train
step of ``microgpt.train`` (bf16 compute, AdamW, data-parallel over every device). MFU uses
``6 N + 12 L d T`` FLOPs per token and the device's peak from ``lmbase.flops`` (or --peak-flops);
on a CPU there is no published peak, so MFU is printed only when --peak-flops is given.
Compilation is excluded: the first ``--warmup`` steps are not timed.
"""

import argparse
import time

import jax
import numpy as np

from lmbase.flops import mfu, peak_flops, training_flops_per_token
from microgpt.data_parallel import batch_sharded, make_mesh, replicated
from microgpt.generate import generate
from microgpt.model import GPTConfig, count_params, init_params
from microgpt.train import PRECISIONS, TrainConfig, make_optimizer, make_train_step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="shakespeare-char")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--context", type=int, default=None)
    parser.add_argument("--precision", default="bf16", choices=sorted(PRECISIONS))
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps (compilation)")
    parser.add_argument("--peak-flops", type=float, default=None, help="peak FLOP/s of one device")
    parser.add_argument("--generate-tokens", type=int, default=0,
                        help="also time greedy generation of this many tokens with and without the KV cache")
    args = parser.parse_args(argv)

    overrides = {"dropout": 0.0} if args.context is None else {"dropout": 0.0, "context": args.context}
    config = GPTConfig.named(args.config, **overrides)
    tc = TrainConfig(batch_size=args.batch_size, precision=args.precision)
    mesh = make_mesh()
    devices = jax.devices()
    params = jax.device_put(init_params(config), replicated(mesh))
    opt_state = jax.device_put(make_optimizer(tc).init(params), replicated(mesh))
    step = make_train_step(config, tc, mesh)
    rng = np.random.default_rng(0)
    x = jax.device_put(rng.integers(0, config.vocab_size, (args.batch_size, config.context), dtype=np.int32),
                       batch_sharded(mesh))
    y = jax.device_put(np.roll(np.asarray(x), -1, axis=1), batch_sharded(mesh))
    key = jax.random.key(0)

    for _ in range(args.warmup):
        params, opt_state, loss = step(params, opt_state, x, y, key)
    loss.block_until_ready()
    started = time.perf_counter()
    for _ in range(args.steps):
        params, opt_state, loss = step(params, opt_state, x, y, key)
    loss.block_until_ready()
    seconds = (time.perf_counter() - started) / args.steps

    n_params = count_params(params)
    tokens = args.batch_size * config.context
    per_token = training_flops_per_token(n_params, config.n_layer, config.d_model, config.context)
    peak = args.peak_flops or peak_flops(devices[0].device_kind)
    print(f"config {args.config}: {n_params:,} parameters, {config.n_layer} layers, {config.n_head} heads, "
          f"d_model {config.d_model}, context {config.context}, batch {args.batch_size}, {args.precision}")
    print(f"devices: {len(devices)} x {devices[0].device_kind} ({devices[0].platform})")
    print(f"step time: {seconds * 1e3:.1f} ms   tokens/s: {tokens / seconds:,.0f}   "
          f"FLOPs/token: {per_token:.3e}   achieved: {tokens / seconds * per_token / 1e12:.2f} TFLOP/s")
    if peak:
        print(f"MFU: {100 * mfu(tokens / seconds, per_token, peak * len(devices)):.1f} % "
              f"of {peak * len(devices) / 1e12:.0f} TFLOP/s peak")
    else:
        print("MFU: n/a (no published peak for this device; pass --peak-flops)")

    if args.generate_tokens:
        prompt = np.zeros((1, 1), np.int32)
        for use_cache in (False, True):
            generate(params, prompt, config, args.generate_tokens, temperature=0.0, use_cache=use_cache)  # compile
            started = time.perf_counter()
            generate(params, prompt, config, args.generate_tokens, temperature=0.0, use_cache=use_cache)
            rate = args.generate_tokens / (time.perf_counter() - started)
            print(f"generation {'with' if use_cache else 'without'} KV cache: {rate:,.0f} tokens/s")


if __name__ == "__main__":
    main()
