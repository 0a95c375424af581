"""A mutation pass: deliberate one-line bugs in the places that matter, each of which some package
test must catch.

Each mutant replaces one exact piece of a package file (masks, positions, scales, reductions,
seeds, optimizer and schedule arithmetic, cache indices) and names the tests that should fail on
it. The pass applies the mutants one at a time in a scratch git worktree of HEAD (the working
tree is never touched), runs those tests, and reports which mutants were killed (a test failed)
and which survived (every test passed: a missing test). Usage::

    python tools/mutation_pass.py                 # every mutant
    python tools/mutation_pass.py --only babygpt  # the mutants of files under babygpt/

A chapter that adds code adds its mutants here.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to the repository root
    old: str  # occurs exactly once in the file
    new: str
    tests: tuple[str, ...]  # the tests that must catch it
    bug: str  # what the mutant breaks, in words


def _m(path, old, new, tests, bug):
    return Mutant(path, old, new, tuple(tests.split()), bug)


B, M, L = "tests/babygpt/", "tests/microgpt/", "tests/lmbase/"
MUTANTS = [
    # babygpt: attention, model, training
    _m("babygpt/attention.py", "/ math.sqrt(q.shape[-1])", "/ q.shape[-1]", B + "test_attention.py",
       "attention scores scaled by 1/d_head instead of 1/sqrt(d_head)"),
    _m("babygpt/attention.py", "dtype=torch.bool, device=device).tril()", "dtype=torch.bool, device=device).triu()",
       B + "test_attention.py", "the causal mask lets a query see the future, not the past"),
    _m("babygpt/model.py", "dropout_p=self.dropout if self.training else 0.0, is_causal=True)",
       "dropout_p=self.dropout if self.training else 0.0, is_causal=False)", B + "test_model.py",
       "GPT's attention without the causal mask"),
    _m("babygpt/model.py", "residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)",
       "residual_std = 0.02 / math.sqrt(self.config.n_layer)", B + "test_model.py",
       "GPT-2's residual-projection init scaled for n_layer, not 2 n_layer"),
    _m("babygpt/train.py", "return config.lr * (step + 1) / config.warmup_steps",
       "return config.lr * step / config.warmup_steps", B + "test_train.py", "warmup starts at 0, one step late"),
    _m("babygpt/train.py", "0.5 * (1 + math.cos(", "0.5 * (1 - math.cos(", B + "test_train.py",
       "the cosine decays upwards"),
    _m("babygpt/train.py", "y[rows]) / config.grad_accum", "y[rows])", B + "test_train.py",
       "gradient accumulation sums the micro-batch losses instead of averaging them"),
    _m("babygpt/train.py", "            total /= self.world\n", "", B + "test_ddp.py",
       "the loss reported under DDP is summed over processes, not averaged"),
    _m("babygpt/train.py", '{"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay}',
       '{"params": [p for p in params if p.ndim >= 1], "weight_decay": config.weight_decay}', B + "test_train.py",
       "weight decay on LayerNorm gains and biases too"),
    _m("babygpt/train.py", "        self.model.eval()\n        losses = []",
       "        self.model.train()\n        losses = []",
       B + "test_train.py", "evaluation with dropout on"),
    _m("babygpt/train.py", "torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)",
       "torch.nn.utils.clip_grad_norm_(self.model.parameters(), 10 * config.grad_clip)", B + "test_train.py",
       "gradients clipped at ten times the set norm"),
    # babygpt: LLaMA, the KV cache, LoRA, generation
    _m("babygpt/llama.py", "even * sin + odd * cos", "even * sin - odd * cos", B + "test_llama.py",
       "RoPE's rotation is not a rotation"),
    _m("babygpt/llama.py", "x32.pow(2).mean(-1, keepdim=True)", "x32.abs().mean(-1, keepdim=True)",
       B + "test_llama.py", "RMSNorm divides by the mean absolute value"),
    _m("babygpt/llama.py", "k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)",
       "k, v = k.repeat(1, groups, 1, 1), v.repeat(1, groups, 1, 1)",
       B + "test_llama.py " + B + "test_llama_checkpoints.py",
       "grouped-query attention pairs each query head with the wrong key head"),
    _m("babygpt/llama.py", ".float() / head_dim))", ".float() / (head_dim - 2)))", B + "test_llama.py",
       "RoPE's frequencies spaced for the wrong head width"),
    _m("babygpt/kv_cache.py", "visible = torch.arange(end, device=keys.device) <= positions",
       "visible = torch.arange(end, device=keys.device) < positions",
       B + "test_llama_kv_cache.py " + B + "test_generate.py",
       "a cached query cannot see its own key"),
    _m("babygpt/kv_cache.py", "return torch.arange(start, start + seq, device=device)",
       "return torch.arange(0, seq, device=device)", B + "test_llama_kv_cache.py " + B + "test_generate.py",
       "every decoded token at position 0 (the BabyGPT seed's bug)"),
    _m("babygpt/lora.py", "self.scaling = alpha / rank", "self.scaling = alpha", B + "test_lora.py",
       "LoRA's update scaled by alpha, not alpha / rank"),
    _m("babygpt/generate.py", "drop_sorted = probs.cumsum(dim=-1) - probs >= top_p",
       "drop_sorted = probs.cumsum(dim=-1) >= top_p", B + "test_generate.py",
       "top-p drops the token that reaches top_p"),
    _m("babygpt/generate.py", "torch.where(logits < 0, logits * penalty, logits / penalty)",
       "torch.where(logits < 0, logits / penalty, logits * penalty)", B + "test_generate.py",
       "the repetition penalty makes seen tokens likelier"),
    _m("babygpt/generate.py", "keep = max(1, context // 2)", "keep = max(1, context // 2 + 1)",
       "tests/test_generate_parity.py", "babygpt's window slides otherwise than microgpt's"),
    _m("babygpt/speculative.py", "residual = (p[rows, n_accepted] - q_padded[rows, n_accepted]).clamp(min=0)",
       "residual = p[rows, n_accepted]", B + "test_generate_speculative.py",
       "after a rejection, the token is drawn from p instead of the residual max(0, p - q)"),
    # microgpt
    _m("microgpt/attention.py", "/ math.sqrt(q.shape[-1])", "/ q.shape[-1]", M + "test_attention.py",
       "attention scores scaled by 1/d_head"),
    _m("microgpt/attention.py", "causal = jnp.tril(", "causal = jnp.triu(", M + "test_attention.py",
       "the causal mask turned around"),
    _m("microgpt/attention.py", "visible = jnp.arange(k_cache.shape[1]) <= positions",
       "visible = jnp.arange(k_cache.shape[1]) < positions", M + "test_generate.py",
       "a cached query cannot see its own key"),
    _m("microgpt/model.py", "x = table[tokens] * math.sqrt(config.d_model)", "x = table[tokens]",
       M + "test_model.py", "the seed's sqrt(d_model) embedding scale dropped"),
    _m("microgpt/model.py", "return -jnp.take_along_axis(log_probs, targets[..., None], axis=-1).mean()",
       "return -jnp.take_along_axis(log_probs, targets[..., None], axis=-1).sum()", M + "test_model.py",
       "the loss summed over tokens, not averaged"),
    _m("microgpt/layers.py", "sigma = jnp.sqrt(var + eps) if eps_inside_sqrt else jnp.sqrt(var) + eps",
       "sigma = jnp.sqrt(var) + eps if eps_inside_sqrt else jnp.sqrt(var + eps)", M + "test_layers.py",
       "the two LayerNorm forms swapped"),
    _m("microgpt/train.py", "return jax.tree.map(lambda p: p.ndim >= 2, params)",
       "return jax.tree.map(lambda p: p.ndim >= 1, params)", M + "test_train.py",
       "weight decay on LayerNorm gains and biases too"),
    _m("microgpt/train.py", "x, y, jax.random.fold_in(base_key, step))", "x, y, base_key)", M + "test_train.py",
       "the same dropout key at every step"),
    _m("microgpt/generate.py", "jnp.full((logits.shape[0], 1), vocab - jnp.minimum(top_k, vocab))",
       "jnp.full((logits.shape[0], 1), vocab - jnp.minimum(top_k, vocab) - 1)", M + "test_generate.py",
       "top-k keeps k + 1 tokens"),
    _m("microgpt/speculative.py", "< p_drafted / q_drafted", "< q_drafted / p_drafted",
       M + "test_generate_speculative.py", "the acceptance ratio turned upside down"),
    # babygpt.quant (chapter 10)
    _m("babygpt/quant/rtn.py", "scales = groups.abs().amax(dim=-1) / (half - 1)",
       "scales = groups.abs().amax(dim=-1) / half", B + "quant/test_rtn.py",
       "symmetric scale max|w| / 2^(b-1): the largest weight is clipped"),
    _m("babygpt/quant/rtn.py", "zeros = torch.round(-low / torch.where(scales > 0, scales, 1.0))",
       "zeros = torch.round(low / torch.where(scales > 0, scales, 1.0))", B + "quant/test_rtn.py",
       "asymmetric zero point of the wrong sign"),
    _m("babygpt/quant/packing.py", "(bits * torch.arange(per_byte))", "(torch.arange(per_byte))",
       B + "quant/test_rtn.py", "int4 codes packed one bit apart instead of four"),
    _m("babygpt/quant/int8_matmul.py", "y += exact * (x_scales[:, j:j + 1] * w_scales[:, j])",
       "y += exact * (x_scales[:, :1] * w_scales[:, j])", B + "quant/test_int8_matmul.py",
       "every group scaled by the activations' first group scale"),
    _m("babygpt/quant/gptq.py", "            block[:, i:] -= error[:, None] * factor[column, column:end][None, :]\n",
       "", B + "quant/test_gptq.py", "GPTQ no longer spreads a column's error onto the next ones"),
    _m("babygpt/quant/gptq.py", "damp * torch.diagonal(h).mean()", "damp * torch.diagonal(h).mean() * 0 + 10.0",
       B + "quant/test_gptq.py", "damping 10 instead of 1 % of the mean diagonal"),
    _m("babygpt/quant/rtn.py", "        unpermuted[:, self.order] = matrix", "        unpermuted = matrix",
       B + "quant/test_rtn.py", "act-order codes read back in the permuted column order"),
    # lmbase
    _m("lmbase/batches.py", "n_train = int(len(ids) * (1 - val_fraction))", "n_train = int(len(ids) * val_fraction)",
       L + "test_corpora_and_tokenizer.py", "the split gives the training text the validation fraction"),
    _m("lmbase/batches.py", "np.random.default_rng([self.seed, step])", "np.random.default_rng(self.seed)",
       L + "test_batches.py", "every step draws the same batch"),
    _m("lmbase/batches.py", "return self.ids[offsets], self.ids[offsets + 1]",
       "return self.ids[offsets], self.ids[offsets]",
       L + "test_batches.py", "targets are the inputs, not the next tokens"),
    _m("lmbase/flops.py", "return 6.0 * n_params + 12.0 * n_layer * d_model * context",
       "return 6.0 * n_params", L + "test_flops.py", "training FLOPs without attention's 12 L d T"),
    _m("lmbase/chinchilla.py", "n = math.sqrt(compute / (6.0 * tokens_per_param))",
       "n = math.sqrt(compute / tokens_per_param)", L + "test_chinchilla.py", "C = 6 N D forgotten"),
    _m("lmbase/bpe.py", "found[0] < best[1][0]", "found[0] > best[1][0]", L + "test_bpe.py",
       "BPE applies the latest merge first, not the earliest"),
    _m("babygpt/ngram.py", "interpolated = (count + types * p) / np.maximum(seen + types, 1.0)",
       "interpolated = (count + types * p) / np.maximum(seen, 1.0)", B + "test_ngram.py",
       "Witten-Bell's interpolation no longer sums to one"),
]


def check_applies(mutant: Mutant, root: Path = ROOT) -> None:
    """Raise ValueError unless the mutant's ``old`` occurs exactly once in its file and its tests exist."""
    text = (root / mutant.path).read_text()
    if text.count(mutant.old) != 1:
        raise ValueError(f"{mutant.path}: {mutant.old!r} occurs {text.count(mutant.old)} times, not once: "
                         f"update the mutant to the code as it is now")
    for test in mutant.tests:
        if not (root / test).exists():
            raise ValueError(f"mutant of {mutant.path}: no test file {test}")


def run(mutant: Mutant, tree: Path, timeout: int) -> tuple[bool, float]:
    """Apply the mutant in ``tree``, run its tests, put the file back. ``(killed, seconds)``."""
    file = tree / mutant.path
    original = file.read_text()
    file.write_text(original.replace(mutant.old, mutant.new))
    started = time.perf_counter()
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutant.tests],
                                cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
                                timeout=timeout)
        killed = result.returncode != 0
    except subprocess.TimeoutExpired:
        killed = True  # a hang is a failure a test run notices
    finally:
        file.write_text(original)
    return killed, time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="only the mutants of files under this folder")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per mutant's tests")
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if m.path.startswith(args.only)]
    for mutant in mutants:
        check_applies(mutant)
    survived = []
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), "HEAD"], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            for mutant in mutants:
                killed, seconds = run(mutant, tree, args.timeout)
                print(f"{'killed  ' if killed else 'SURVIVED'} {seconds:6.1f} s  {mutant.path}: {mutant.bug}",
                      flush=True)
                if not killed:
                    survived.append(mutant)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=True)
    killed = len(mutants) - len(survived)
    print(f"\n{killed} of {len(mutants)} mutants killed ({killed / len(mutants):.0%})")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
