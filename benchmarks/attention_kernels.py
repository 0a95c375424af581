"""Attention's speed and memory: our Triton FlashAttention kernel against PyTorch's fused kernel
(``F.scaled_dot_product_attention``, its FlashAttention-2 backend on a GPU) and naive attention.

    PYTHONPATH=. python benchmarks/attention_kernels.py --out benchmarks/results/attention-kernels-gpu.json
    python benchmarks/attention_kernels.py --device cpu --seqs 64 --head-dims 32 --dtype fp32 \\
        --tokens 128 --d-model 64 --blocks 16x16 --repeats 1 --train-config tiny --train-n-head 2 \\
        --train-context 32 --train-batch 2 --train-steps 1   # a CPU check: Triton's interpreter, slow

For each sequence length T, head dimension and causal or not, a batch of ``--tokens / T``
sequences of ``--d-model / d_head`` heads is timed, forward alone and forward + backward, for:

* ``triton``: ``babygpt.kernels.triton_flash_attention``, at each block shape of ``--blocks``
  (the fastest is kept: there is no autotuning inside the kernel);
* ``sdpa``: PyTorch's ``F.scaled_dot_product_attention``, restricted on a GPU to its
  FlashAttention backend;
* ``naive``: ``babygpt.attention.scaled_dot_product_attention``, which writes the T × T scores,
  up to ``--naive-max-seq``.

Each time is the median of ``--repeats`` runs after a warm-up (the device synchronised); TFLOP/s
count attention's matrix multiplies (``lmbase.attention_arithmetic.attention_flops``, the
FlashAttention papers' convention). On a GPU the peak memory of each is
``torch.cuda.max_memory_allocated`` above the inputs; the largest difference of each output from
sdpa's is recorded. Then babygpt's training step (AdamW, bf16 autocast) with PyTorch's attention
and with our kernel in every block, in tokens per second. The results (command, device, driver,
versions, commit, every row) go to ``--out`` as JSON, which chapter 14 renders. ``--max-seconds``
stops the sweep, keeping the rows measured, before a device budget runs out.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from babygpt.kernels.triton_flash_attention import triton_flash_attention  # first: sets up Triton
from babygpt.attention import scaled_dot_product_attention
from babygpt.flops import device_description, synchronize
from babygpt.model import GPT, CausalSelfAttention, GPTConfig
from lmbase.attention_arithmetic import attention_flops
from lmbase.recorded_runs import git_commit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference_sweep import DTYPES  # noqa: E402


def sdpa(q, k, v, causal):
    if q.device.type != "cuda":
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def seconds_of(fn, device, repeats: int) -> float:
    """The median seconds of ``fn()`` over ``repeats`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(attention, q, k, v, grad, causal, device, repeats) -> dict:
    """Forward and forward + backward seconds of ``attention(q, k, v, causal)``, its peak memory
    (on a GPU) and its output."""
    def forward():
        with torch.no_grad():
            return attention(q, k, v, causal)

    def forward_backward():
        q.grad = k.grad = v.grad = None
        attention(q, k, v, causal).backward(grad)

    row = {"forward_s": seconds_of(forward, device, repeats),
           "forward_backward_s": seconds_of(forward_backward, device, repeats)}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        forward_backward()
        row["peak_bytes"] = torch.cuda.max_memory_allocated(device) - before
    with torch.no_grad():
        row["out"] = attention(q, k, v, causal)
    return row


class KernelAttention(CausalSelfAttention):
    """babygpt's attention block with our Triton kernel in place of F.scaled_dot_product_attention
    (training only: no KV cache, no attention dropout)."""

    def forward(self, x, start=0, cache=None):
        batch, seq, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (t.view(batch, seq, self.n_head, d // self.n_head).transpose(1, 2).contiguous() for t in (q, k, v))
        y = triton_flash_attention(q, k, v, causal=True)
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(batch, seq, d)))


def training_tokens_per_second(config: GPTConfig, batch: int, steps: int, device, with_kernel: bool) -> float:
    model = GPT(config, seed=0).to(device)
    if with_kernel:
        for block in model.blocks:
            state = block.attn.state_dict()
            block.attn = KernelAttention(config).to(device)
            block.attn.load_state_dict(state)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, config.vocab_size, (batch, config.context + 1), generator=torch.Generator().manual_seed(0))
    ids = ids.to(device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32  # the CPU check keeps float32

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda"):
            logits = model(ids[:, :-1], validate=False)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    seconds = seconds_of(lambda: [step() for _ in range(steps)], device, repeats=1)
    return batch * config.context * steps / seconds


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seqs", default="512,1024,2048,4096,8192,16384")
    parser.add_argument("--head-dims", default="64,128")
    parser.add_argument("--causal", default="0,1", help="0 for full attention, 1 for causal, or both")
    parser.add_argument("--tokens", type=int, default=16384, help="batch × T of every measurement")
    parser.add_argument("--d-model", type=int, default=2048, help="n_head × d_head")
    parser.add_argument("--blocks", default="64x64,128x64", help="block_q x block_k shapes of our kernel")
    parser.add_argument("--naive-max-seq", type=int, default=8192)
    parser.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--train-config", default="nanogpt-baby")
    parser.add_argument("--train-context", type=int, default=1024)
    parser.add_argument("--train-n-head", type=int, default=None, help="override the configuration's heads")
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--train-steps", type=int, default=20, help="0 skips the training measurement")
    parser.add_argument("--max-seconds", type=float, default=420, help="stop the sweep after this long")
    parser.add_argument("--out", type=Path, default=None, help="write the results here as JSON")
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    blocks = [tuple(int(n) for n in b.split("x")) for b in args.blocks.split(",")]
    typed = sys.argv[1:] if argv is None else argv
    import triton  # here, after babygpt.kernels has chosen Triton's mode
    from triton.runtime.errors import OutOfResources

    results = {"command": " ".join(["python", "benchmarks/attention_kernels.py", *typed]),
               "device": device_description(device), "dtype": args.dtype, "commit": git_commit(),
               "versions": {"python": platform.python_version(), "torch": torch.__version__,
                            "triton": triton.__version__},
               "tokens": args.tokens, "d_model": args.d_model, "rows": [], "skipped": [], "training": None}
    started = time.perf_counter()
    print(f"{'T':>6} {'d_head':>6} {'causal':>6} {'kernel':>7} {'fwd TFLOP/s':>12} {'fwd+bwd TFLOP/s':>16} "
          f"{'max |diff|':>11}")
    for seq in [int(s) for s in args.seqs.split(",")]:
        for d_head in [int(d) for d in args.head_dims.split(",")]:
            for causal in [c == "1" for c in args.causal.split(",")]:
                if time.perf_counter() - started > args.max_seconds:
                    if "stopped_after_s" not in results:
                        print(f"stopped after {args.max_seconds:.0f} s: --max-seconds")
                    results["stopped_after_s"] = args.max_seconds
                    continue
                batch, n_head = max(1, args.tokens // seq), args.d_model // d_head
                generator = torch.Generator().manual_seed(seq + d_head)
                q, k, v, grad = (torch.randn(batch, n_head, seq, d_head, generator=generator).to(device, dtype)
                                 for _ in range(4))
                for x in (q, k, v):
                    x.requires_grad_()
                kernels = {f"triton {bq}x{bk}": lambda q, k, v, c, bq=bq, bk=bk: triton_flash_attention(q, k, v, c, bq, bk)
                           for bq, bk in blocks}
                kernels["sdpa"] = sdpa
                if seq <= args.naive_max_seq:
                    kernels["naive"] = lambda q, k, v, c: scaled_dot_product_attention(q, k, v, causal=c)
                measured = {}
                for name, fn in kernels.items():
                    try:
                        measured[name] = measure(fn, q, k, v, grad, causal, device, args.repeats)
                    except OutOfResources as error:  # a block shape too big for this GPU's shared memory
                        print(f"{seq:6} {d_head:6} {causal!s:>6} {name}: skipped ({error})")
                        results["skipped"].append({"seq": seq, "d_head": d_head, "causal": causal,
                                                   "kernel": name, "why": str(error)})
                fastest = min((n for n in measured if n.startswith("triton")), key=lambda n: measured[n]["forward_s"],
                              default=None)
                forward = attention_flops(batch, n_head, seq, d_head, causal)
                backward = attention_flops(batch, n_head, seq, d_head, causal, backward=True)
                outputs = {name: row.pop("out") for name, row in measured.items()}
                for name, row in measured.items():
                    if name.startswith("triton") and name != fastest:
                        continue
                    row.update(seq=seq, d_head=d_head, causal=causal, batch=batch, n_head=n_head,
                               kernel=name.split(" ")[0], blocks=name.split(" ")[1] if " " in name else None,
                               forward_tflops=forward / row["forward_s"] / 1e12,
                               forward_backward_tflops=(forward + backward) / row["forward_backward_s"] / 1e12,
                               max_diff_from_sdpa=(outputs[name] - outputs["sdpa"]).float().abs().max().item())
                    results["rows"].append(row)
                    print(f"{seq:6} {d_head:6} {causal!s:>6} {row['kernel']:>7} {row['forward_tflops']:12.3f} "
                          f"{row['forward_backward_tflops']:16.3f} {row['max_diff_from_sdpa']:11.2e}", flush=True)
                del q, k, v, grad, measured, outputs
    if args.train_steps:
        heads = {"n_head": args.train_n_head} if args.train_n_head else {}
        config = GPTConfig.named(args.train_config, dropout=0.0, context=args.train_context, **heads)
        speed = {name: training_tokens_per_second(config, args.train_batch, args.train_steps, device, kernel)
                 for name, kernel in (("sdpa", False), ("triton", True))}
        results["training"] = {"config": args.train_config, "context": args.train_context,
                               "batch": args.train_batch, "steps": args.train_steps,
                               "tokens_per_second": speed, "triton_over_sdpa": speed["triton"] / speed["sdpa"]}
        print(f"training {args.train_config} at context {args.train_context}: sdpa {speed['sdpa']:,.0f} tokens/s, "
              f"triton {speed['triton']:,.0f} tokens/s ({speed['triton'] / speed['sdpa']:.2f}x)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
