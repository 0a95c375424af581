"""Decoding speed of babygpt's generation engine against batch size, and how much of the device's
memory bandwidth it uses.

    PYTHONPATH=. python benchmarks/inference_sweep.py --out benchmarks/results/inference-h200.json
    python benchmarks/inference_sweep.py --shapes tiny --batches 1,2 --new-tokens 8   # a CPU check

For each model shape (default: nanoGPT's baby and GPT-2 small, random weights: speed does not
depend on what a model learned) and each batch size, greedy generation of ``--new-tokens``
tokens after a ``--prompt-tokens`` prompt is timed through ``babygpt.generate.generate`` with the
KV cache, after one untimed warm-up generation. Printed per row:

* tokens/s: ``batch × new tokens`` over the seconds of the decoding (the device synchronised);
* bytes read per decoding step (``lmbase.kv_cache_arithmetic.decode_bytes_read``: every weight
  once, and each row's cached keys and values), and the bandwidth that makes: bytes per step ×
  steps per second, over the device's peak (``lmbase.flops.PEAK_MEMORY_BANDWIDTH``) as a
  fraction, the memory-bandwidth utilisation as nanochat's inference benchmark defines it;
* the step time over the time that reading those bytes at peak bandwidth would take: near 1 a
  step is bound by memory; far above 1 (batch 1 of a small model) it is bound by launching
  kernels and by Python, which a bigger batch amortises;
* with ``--no-cache-too``, the same generation without the KV cache, and the cache's speed-up.

The rows go to ``--out`` as a recorded run (``lmbase.recorded_runs``: command, device, driver,
versions, commit), for the chapter to render. ``--max-seconds`` stops the sweep, keeping the rows measured, before a
device budget runs out.
"""

import argparse
import sys
import time
from pathlib import Path

import torch

from babygpt.flops import device_description, synchronize
from babygpt.generate import generate
from babygpt.model import GPT, GPTConfig
from lmbase.flops import peak_memory_bandwidth
from lmbase.kv_cache_arithmetic import decode_bytes_read
from lmbase.recorded_runs import git_commit, record

SHAPES = {
    "baby": GPTConfig.named("nanogpt-baby", dropout=0.0),  # 10.7M parameters
    # GPT-2 small (Radford et al. 2019), the shape of the 124M checkpoint: 124,439,808 parameters
    "gpt2": GPTConfig(vocab_size=50257, context=1024, n_layer=12, n_head=12, d_model=768),
    # the baby shape with a context of 1,024: a 1,024-token generation never slides its window
    "baby-long": GPTConfig.named("nanogpt-baby", dropout=0.0, context=1024),
    "tiny": GPTConfig.named("tiny"),
}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def measure(model: GPT, batch: int, prompt_tokens: int, new_tokens: int, device: torch.device,
            use_cache: bool = True) -> float:
    """Seconds of one greedy generation of ``new_tokens`` for ``batch`` prompts, after a warm-up."""
    generator = torch.Generator().manual_seed(0)
    prompts = torch.randint(0, model.config.vocab_size, (batch, prompt_tokens), generator=generator).to(device)
    generate(model, prompts, min(new_tokens, 4), temperature=0, use_cache=use_cache)  # warm-up
    synchronize(device)
    started = time.perf_counter()
    generate(model, prompts, new_tokens, temperature=0, use_cache=use_cache)
    synchronize(device)
    return time.perf_counter() - started


def sweep_row(model: GPT, dtype: torch.dtype, batch: int, prompt_tokens: int, new_tokens: int,
              device: torch.device, peak: float | None, no_cache_too: bool = False) -> dict:
    config = model.config
    seconds = measure(model, batch, prompt_tokens, new_tokens, device)
    bytes_per_value = torch.finfo(dtype).bits // 8
    weight_bytes = model.num_parameters() * bytes_per_value
    mean_positions = prompt_tokens + (new_tokens - 1) / 2  # the cache a decoding step reads, on average
    step_bytes = decode_bytes_read(weight_bytes, config.n_layer, config.d_model, batch, mean_positions,
                                   bytes_per_value)
    step_seconds = seconds / new_tokens
    row = {"batch": batch, "new_tokens": new_tokens, "seconds": seconds,
           "tokens_per_second": batch * new_tokens / seconds, "bytes_per_step": step_bytes,
           "bandwidth": step_bytes / step_seconds}
    if peak:
        row["bandwidth_utilisation"] = row["bandwidth"] / peak
        row["step_over_memory_floor"] = step_seconds / (step_bytes / peak)
    if no_cache_too:
        row["no_cache_seconds"] = measure(model, batch, prompt_tokens, new_tokens, device, use_cache=False)
        row["cache_speedup"] = row["no_cache_seconds"] / seconds
    return row


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="baby,gpt2", help=f"comma-separated, from {sorted(SHAPES)}")
    parser.add_argument("--batches", default="1,2,4,8,16,32,64,128,256")
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peak-bandwidth", type=float, default=None,
                        help="peak memory bandwidth of the device in bytes/s (default: lmbase.flops' table)")
    parser.add_argument("--no-cache-too", action="store_true",
                        help="also time generation without the KV cache and print the cache's speed-up")
    parser.add_argument("--max-seconds", type=float, default=420, help="stop the sweep after this long")
    parser.add_argument("--out", type=Path, default=None, help="write the results here as JSON")
    args = parser.parse_args(argv)
    shapes = args.shapes.split(",")
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shape(s) {unknown}: choose from {sorted(SHAPES)}")
    batches = [int(b) for b in args.batches.split(",")]
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    described = device_description(device)
    peak = args.peak_bandwidth or peak_memory_bandwidth(described["name"])
    typed = sys.argv[1:] if argv is None else argv
    command, commit = " ".join(["python", "benchmarks/inference_sweep.py", *typed]), git_commit()
    results = {"peak_bandwidth": peak, "dtype": args.dtype, "prompt_tokens": args.prompt_tokens, "shapes": {}}
    started = time.perf_counter()
    for shape in shapes:
        model = GPT(SHAPES[shape], seed=0).to(device=device, dtype=dtype).eval()
        rows = results["shapes"][shape] = []
        print(f"{shape} ({model.num_parameters():,} parameters, {args.dtype}, {described['name']})")
        print(f"{'batch':>6} {'tokens/s':>10} {'GB/s':>8} {'of peak':>8} {'step / floor':>13}")
        for batch in batches:
            if time.perf_counter() - started > args.max_seconds:
                print(f"stopped after {args.max_seconds:.0f} s: --max-seconds")
                break
            row = sweep_row(model, dtype, batch, args.prompt_tokens, args.new_tokens, device, peak,
                            args.no_cache_too)
            rows.append(row)
            share = f"{row['bandwidth_utilisation']:8.1%}" if peak else f"{'-':>8}"
            floor = f"{row['step_over_memory_floor']:13.1f}" if peak else f"{'-':>13}"
            speedup = f"  cache {row['cache_speedup']:.1f}x faster" if args.no_cache_too else ""
            print(f"{batch:6} {row['tokens_per_second']:10,.0f} {row['bandwidth'] / 1e9:8.1f} {share} {floor}"
                  f"{speedup}", flush=True)
        del model
    if args.out:
        return record(args.out, command, described, results, ("torch", "numpy"), commit)
    return {"command": command, "device": described, "results": results}


if __name__ == "__main__":
    main()
