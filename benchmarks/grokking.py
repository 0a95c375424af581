"""The full-size grokking run of chapter 12 (Nanda et al. 2023's setup), for a GPU.

    PYTHONPATH=. python benchmarks/grokking.py --out benchmarks/results/grokking-h200.json
    python benchmarks/grokking.py --p 13 --epochs 30 --eval-every 10 --device cpu   # a CPU check

Trains ``babygpt.interp.modular``'s one-layer model on 30 % of the pairs (a, b) mod 113, full
batch, through ``torch.compile`` on a GPU; keeps a copy of the weights at every evaluation, and
afterwards finds the key frequencies of the final embedding (``babygpt.interp.fourier``) and
measures, at every evaluation, the restricted and excluded losses for those frequencies. The
curves, the key frequencies, the neurons' frequencies, the command, device, versions and commit
go to ``--out`` as JSON, for the chapter to render.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from babygpt.interp.fourier import circuit_losses, key_frequencies, neuron_frequencies
from babygpt.interp.hooks import run_with_cache
from babygpt.interp.modular import (GrokkingConfig, all_pairs, answer_logits, first_epoch,
                                    modular_addition_model, train_grokking, train_test_split)
from babygpt.flops import device_description
from lmbase.recorded_runs import git_commit


def main(argv=None) -> dict:
    defaults = GrokkingConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p", type=int, default=defaults.p)
    parser.add_argument("--train-fraction", type=float, default=defaults.train_fraction)
    parser.add_argument("--d-model", type=int, default=defaults.d_model)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--eval-every", type=int, default=defaults.eval_every)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-compile", action="store_true", help="train without torch.compile")
    parser.add_argument("--out", type=Path, help="where to write the results (JSON)")
    args = parser.parse_args(argv)
    config = GrokkingConfig(p=args.p, train_fraction=args.train_fraction, d_model=args.d_model, lr=args.lr,
                            weight_decay=args.weight_decay, epochs=args.epochs, eval_every=args.eval_every,
                            seed=args.seed)
    device = torch.device(args.device)
    snapshots = []

    def keep(model, epoch):
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})

    started = time.perf_counter()
    model, history = train_grokking(config, device, keep, compile_model=device.type == "cuda" and not args.no_compile)
    seconds = time.perf_counter() - started

    ids, labels = (t.to(device) for t in all_pairs(config.p))
    train, test = train_test_split(config.p, config.train_fraction, config.seed)
    frequencies = key_frequencies(model.tok_emb.weight[: config.p].detach().cpu(), share=0.8)
    probe = modular_addition_model(config.p, config.d_model, config.n_head).to(device).eval()
    for state in snapshots:
        probe.load_state_dict(state)
        with torch.no_grad():
            losses = circuit_losses(answer_logits(probe, ids).cpu(), labels.cpu(), frequencies, train, test)
        for key, value in losses.items():
            history.setdefault(key, []).append(value)
    with torch.no_grad():
        _, cache = run_with_cache(model, ids, ["blocks.0.mlp.post"])
    acts = cache["blocks.0.mlp.post"][:, -1].cpu().view(config.p, config.p, -1)
    neuron_frequency, neuron_share = neuron_frequencies(acts)

    results = {
        "command": "python benchmarks/grokking.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "config": {**config.__dict__, "betas": list(config.betas)},
        "device": device_description(device), "seconds": round(seconds, 1), "commit": git_commit(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "key_frequencies": frequencies,
        "neuron_frequency_counts": {str(k): int((neuron_frequency == k).sum()) for k in frequencies},
        "neurons_explained": round(float(neuron_share.mean()), 4),
        "memorised_epoch": first_epoch(history, "train_acc", 0.99),
        "generalised_epoch": first_epoch(history, "test_acc", 0.99),
        "test_loss_below_1_epoch": first_epoch(history, "test_loss", 1.0, above=False),
        "history": history,
    }
    print(f"{config.epochs} epochs in {seconds:.1f} s on {results['device']['name']}; memorised at epoch "
          f"{results['memorised_epoch']}, generalised at {results['generalised_epoch']}, "
          f"key frequencies {frequencies}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
