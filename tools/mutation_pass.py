"""A mutation pass: deliberate one-line bugs in the places that matter, each of which some package
test must catch.

Each mutant replaces one exact piece of a package file (masks, positions, scales, reductions,
seeds, optimizer and schedule arithmetic, cache indices) and names the tests that should fail on
it. The pass applies the mutants one at a time in a scratch git worktree of HEAD (the working
tree is never touched), runs those tests, and reports which mutants were killed (a test failed)
and which survived (every test passed: a missing test). Usage::

    python tools/mutation_pass.py                 # every mutant
    python tools/mutation_pass.py --only babygpt  # the mutants of files under babygpt/
    python tools/mutation_pass.py --only lmbase/addition.py babygpt/cot  # of several

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
    # chapter 13: addition as text, chain-of-thought batches, evaluation and comparison
    _m("lmbase/addition.py", "carry = int(x + y + carry >= 10)", "carry = int(x + y + carry > 10)",
       L + "test_addition.py", "a column summing to exactly 10 does not carry"),
    _m("lmbase/addition.py", '("+1" if carry else "")', '""', L + "test_addition.py",
       "the scratchpad's steps no longer write the carry they add"),
    _m("lmbase/addition.py", '    if fmt == "scratchpad_reversed":\n        a, b = a[::-1], b[::-1]\n    return f"{a}+{b}="',
       '    return f"{a}+{b}="', L + "test_addition.py",
       "scratchpad_reversed's prompt written most significant digit first"),
    _m("lmbase/addition.py", 'return int(body[::-1] if fmt in ("reversed", "scratchpad_reversed") else body)',
       'return int(body[::-1] if fmt == "reversed" else body)', L + "test_addition.py",
       "read_answer does not turn scratchpad_reversed's answer back"),
    _m("lmbase/addition.py", "n_carries = rng.randint(0, n_digits)", "n_carries = rng.randint(0, n_digits - 1)",
       L + "test_addition.py", "no problem drawn carries in every column"),
    _m("lmbase/addition.py", "leading=n_digits > 1 and i == n_digits - 1", "leading=n_digits > 1 and i == 0",
       L + "test_addition.py", "the units column is kept from zero, the leading one is not"),
    _m("lmbase/addition.py", "(x + y + carry_in >= 10) == bool(carry_out)", "(x + y + carry_in > 10) == bool(carry_out)",
       L + "test_addition.py", "draws balanced over carries count a column of 10 as not carrying"),
    _m("lmbase/addition.py", "exclude=frozenset(test[n])", "exclude=frozenset()", L + "test_addition.py",
       "training problems drawn from the test set too"),
    _m("lmbase/addition.py", "z = NormalDist().inv_cdf((1 + confidence) / 2)", "z = NormalDist().inv_cdf(confidence)",
       L + "test_addition.py", "the Wilson interval with a one-sided z"),
    _m("babygpt/cot/batches.py", "start = len(prompt(problem, fmt)) - 1", "start = len(prompt(problem, fmt))",
       B + "test_cot.py", "the completion's first character is not trained on"),
    _m("babygpt/cot/batches.py", "targets[i, start:len(ids) - 1] = ids[start + 1:]",
       "targets[i, :len(ids) - 1] = ids[1:]", B + "test_cot.py", "the loss scores the prompt's digits too"),
    _m("babygpt/cot/evaluation.py", "new[:new.index(END) + 1] if END in new", "new[:new.index(END)] if END in new",
       B + "test_cot.py", "a written answer is cut before its END, so none reads as well-formed"),
    _m("babygpt/cot/evaluation.py", "TOKENIZER.decode(row[len(p):].numpy())", "TOKENIZER.decode(row[len(p) - 1:].numpy())",
       B + "test_cot.py", "the written completion starts with the prompt's last character"),
    _m("babygpt/cot/comparison.py", "return max(self.train_digits) + 1", "return max(self.train_digits)",
       B + "test_cot.py", "the length-generalisation test replaces the longest trained length's test set"),
    _m("babygpt/cot/comparison.py", "return 3 * per_token * run", "return 2 * per_token * run", B + "test_cot.py",
       "training FLOPs counted as forward and one backward matmul, not three forward passes"),
    _m("babygpt/cot/comparison.py", 'training_flops({**other, "steps": 1}, sizes)', 'training_flops({**run, "steps": 1}, sizes)',
       B + "test_cot.py", "equal-FLOPs steps divide by the run's own cost: always the run's steps"),
    # chapters 11, 13, 14: roofline, scaling laws, KV-cache, attention and generation arithmetic
    _m("lmbase/roofline.py", "(m * k + k * n + m * n))", "(m * k + k * n))", L + "test_roofline.py",
       "a matmul's intensity forgets the bytes of its output"),
    _m("lmbase/roofline.py", "(2 * q_len + 2 * kv_len))", "(2 * q_len + kv_len))", L + "test_roofline.py",
       "attention's intensity reads the keys but not the values"),
    _m("lmbase/roofline.py", 'return batch if phase == "decode" else batch * context',
       'return batch if phase != "training" else batch * context', L + "test_roofline.py",
       "prefill multiplies the weights by one token per sequence"),
    _m("lmbase/roofline.py", "np.minimum(peak_flops,", "np.maximum(peak_flops,", L + "test_roofline.py",
       "the roofline is a floor, not a ceiling"),
    _m("lmbase/scaling_laws.py", "return self.beta / (self.alpha + self.beta)", "return self.alpha / (self.alpha + self.beta)",
       L + "test_scaling_laws.py", "N_opt's exponent is D_opt's"),
    _m("lmbase/scaling_laws.py", "g = (self.alpha * self.A / (self.beta * self.B))", "g = (self.beta * self.B / (self.alpha * self.A))",
       L + "test_scaling_laws.py", "the optimum's constant G turned upside down"),
    _m("lmbase/scaling_laws.py", "gradient = np.array([-(slope * weights[0] * log_n).sum()",
       "gradient = np.array([(slope * weights[0] * log_n).sum()", L + "test_scaling_laws.py",
       "the fit's gradient in alpha has the wrong sign"),
    _m("lmbase/scaling_laws.py", "return float(np.exp(-c1 / (2 * c2)))", "return float(np.exp(-c1 / c2))",
       L + "test_scaling_laws.py", "the parabola's vertex at -b/a, not -b/2a"),
    _m("lmbase/scaling_laws.py", "rng.choice(m, len(m))", "rng.choice(m, len(m), replace=False)",
       L + "test_scaling_laws.py", "the bootstrap draws without replacement: every draw is the whole sweep"),
    _m("lmbase/kv_cache_arithmetic.py", "cached = prompt_len + (new_tokens - 1)", "cached = prompt_len + new_tokens",
       B + "test_llama_kv_cache.py " + L + "test_flops.py", "the cache counted as computing one token too many"),
    _m("lmbase/kv_cache_arithmetic.py", "return weight_bytes + batch * positions", "return batch * weight_bytes + batch * positions",
       L + "test_flops.py", "a decoding step reads the weights once per sequence, not once per batch"),
    _m("lmbase/attention_arithmetic.py", "return flops * 2.5 if backward else flops", "return flops * 2 if backward else flops",
       L + "test_attention_arithmetic.py", "the backward pass counted at 2x the forward, not 2.5x"),
    _m("lmbase/attention_arithmetic.py", "(4 * seq * d_head + 4 * seq * seq)", "(4 * seq * d_head + 2 * seq * seq)",
       L + "test_attention_arithmetic.py", "the unfused pass moves the scores but not the weights"),
    _m("lmbase/flops.py", "keys_read = positions * (positions + 1) / 2", "keys_read = positions * positions / 2",
       L + "test_flops.py", "generation's attention forgets each position's own key"),
    _m("lmbase/flops.py", 'new_tokens * terms["head"]', 'positions * terms["head"]', L + "test_flops.py",
       "generation runs the output head at every prompt position"),
    _m("lmbase/flops.py", "return 3.0 * n_layer * (d_model + kv_dim)", "return 3.0 * n_layer * 2 * d_model",
       B + "test_cot.py", "RoPE's FLOPs ignore grouped-query attention's narrower keys"),
    # chapter 14: kernels
    _m("babygpt/kernels/online_softmax.py", "l = l * torch.exp(m - shift) +", "l = l +",
       B + "test_kernels_flash_attention.py", "the online softmax does not rescale its running sum"),
    _m("babygpt/kernels/online_softmax.py",
       "shift = torch.where(torch.isinf(m_new) & (m_new < 0), torch.zeros_like(m_new), m_new)", "shift = m_new",
       B + "test_kernels_flash_attention.py", "a block of only -inf gives nan in the online normaliser"),
    _m("babygpt/kernels/flash_attention.py", "acc = acc * rescale[..., None] + p @", "acc = acc + p @",
       B + "test_kernels_flash_attention.py", "FlashAttention's running output is not rescaled when the maximum grows"),
    _m("babygpt/kernels/flash_attention.py", "cols[None, :] > rows[:, None]", "cols[None, :] >= rows[:, None]",
       B + "test_kernels_flash_attention.py", "the causal mask hides a query's own key"),
    _m("babygpt/kernels/flash_attention.py", "q_first = k_start // block_q * block_q if causal else 0",
       "q_first = (k_start // block_q + 1) * block_q if causal else 0", B + "test_kernels_flash_attention.py",
       "the backward pass skips the block of queries on the diagonal"),
    _m("babygpt/kernels/flash_attention.py", "ds = p * (dp - d[..., rows, None])", "ds = p * dp",
       B + "test_kernels_flash_attention.py", "the softmax's backward without D = rowsum(dO o O)"),
    _m("babygpt/kernels/flash_attention.py", "+= ds.transpose(-2, -1) @ q_block * scale", "+= ds.transpose(-2, -1) @ q_block",
       B + "test_kernels_flash_attention.py", "dK without the 1/sqrt(d_head) scale"),
    _m("microgpt/kernels/pallas_flash_attention.py", "visible = keys < seq_len", "visible = keys <= seq_len",
       M + "test_kernels_pallas.py", "a padded key (position seq_len) is attended"),
    _m("microgpt/kernels/pallas_flash_attention.py", "dk_ref[...] = (dk * scale).astype", "dk_ref[...] = dk.astype",
       M + "test_kernels_pallas.py", "the Pallas dK without the 1/sqrt(d_head) scale"),
    _m("babygpt/kernels/triton_softmax.py", 'mask=cols < n_cols, other=float("-inf"))', "mask=cols < n_cols, other=0.0)",
       B + "test_kernels_triton.py", "the Triton softmax pads a row with zeros: exp(0) joins the sum"),
    # chapter 12: interpretability
    _m("babygpt/interp/hooks.py", "return q, k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)",
       "return q, k.repeat(1, groups, 1, 1), v.repeat(1, groups, 1, 1)", B + "interp/test_hooks.py",
       "the hooked pattern pairs a grouped LLaMA's query heads with the wrong key heads"),
    _m("babygpt/interp/hooks.py", "q, k = apply_rope(q, model.rope_cache), apply_rope(k, model.rope_cache)",
       "q = apply_rope(q, model.rope_cache)", B + "interp/test_hooks.py", "the hooked pattern's keys not rotated"),
    _m("babygpt/interp/hooks.py", "(q, k, v, causal=True, return_weights=True)", "(q, k, v, causal=False, return_weights=True)",
       B + "interp/test_hooks.py", "the hooked pattern without the causal mask"),
    _m("babygpt/interp/hooks.py", 'here["attn.z"], (attn.n_head, -1))', 'here["attn.z"], (-1, attn.n_head))',
       B + "interp/test_hooks.py", "attn.z split as (d_head, n_head): a head's slice mixes heads"),
    _m("babygpt/interp/fourier.py", ".sum(-1)[1:]  # drop the constant", ".sum(-1)[:-1]  # drop the constant",
       B + "interp/test_fourier.py", "frequency energy drops the last sine, not the constant"),
    _m("babygpt/interp/fourier.py", "needed = int((energy[order].cumsum(0) < share).sum()) + 1",
       "needed = int((energy[order].cumsum(0) < share).sum())", B + "interp/test_fourier.py",
       "key frequencies stop one short of the share"),
    _m("babygpt/interp/fourier.py", "k = (torch.arange(p) + 1) // 2", "k = torch.arange(p) // 2",
       B + "interp/test_fourier.py", "each basis row given the frequency of its neighbour"),
    _m("babygpt/interp/fourier.py", "mean = logits.mean(0, keepdim=True)", "mean = logits.mean(1, keepdim=True)",
       B + "interp/test_fourier.py", "the restricted logits keep each pair's mean, not each output's"),
    _m("babygpt/interp/probes.py", 'name = f"blocks.{layer}.resid_pre" if', 'name = f"blocks.{layer}.resid_post" if',
       B + "interp/test_probes.py", "the residual stream after layer + 1 blocks, not layer"),
    _m("babygpt/interp/probes.py", "return accuracy(probe, features[test], labels[test])",
       "return accuracy(probe, features[train], labels[train])", B + "interp/test_probes.py",
       "a probe scored on its own training rows"),
    _m("babygpt/interp/modular.py", "return order[:n_train], order[n_train:]", "return order[:n_train], order[n_train - 1:]",
       B + "interp/test_modular.py", "one pair in both the training and the test set"),
    _m("babygpt/interp/modular.py", "[:, -1, : model.config.vocab_size - 1]", "[:, -1, : model.config.vocab_size]",
       B + "interp/test_modular.py", "the answer logits include the '=' token as a residue"),
    _m("babygpt/interp/modular.py", "block.ln1, block.ln2 = nn.Identity(), nn.Identity()", "block.ln1 = nn.Identity()",
       B + "interp/test_modular.py", "the MLP's LayerNorm left in"),
    _m("babygpt/interp/feature_vis.py", "digits.images / 16.0", "digits.images / 255.0", B + "test_feature_vis.py",
       "digits scaled as 8-bit images: pixels in [0, 0.06]"),
    _m("babygpt/interp/feature_vis.py", "dy = (x[..., 1:, :] - x[..., :-1, :])", "dy = (x[..., :, 1:] - x[..., :, :-1])",
       B + "test_feature_vis.py", "total variation counts horizontal neighbours twice, vertical ones never"),
    _m("babygpt/interp/feature_vis.py", "low = images.amin((1, 2, 3), keepdim=True)", "low = images.amin()",
       B + "test_feature_vis.py", "each image rescaled by the darkest pixel of the whole batch"),
    _m("babygpt/interp/feature_vis.py", "loss = -objective(model, param, layer, index).sum()",
       "loss = objective(model, param, layer, index).sum()", B + "test_feature_vis.py",
       "naive visualisation descends the objective"),
    # chapter 10: the quantized linear layer and the number formats
    _m("babygpt/quant/linear.py", "torch.full_like(self.scales, 2.0 ** (self.bits - 1))", "torch.full_like(self.scales, 2.0 ** self.bits)",
       B + "quant/test_linear.py", "a symmetric layer's zero point read back as 2^b, not 2^(b-1)"),
    _m("babygpt/quant/linear.py", "dequantize().to(x.dtype), self.bias)", "dequantize().to(x.dtype), None)",
       B + "quant/test_linear.py", "the quantized layer drops its bias"),
    _m("babygpt/quant/formats.py", '"fp8 e4m3": torch.float8_e4m3fn', '"fp8 e4m3": torch.float8_e5m2',
       B + "quant/test_rtn.py", "fp8 e4m3 is e5m2"),
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
    parser.add_argument("--only", nargs="+", default=[""],
                        help="only the mutants of files whose path starts with one of these")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per mutant's tests")
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if m.path.startswith(tuple(args.only))]
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
