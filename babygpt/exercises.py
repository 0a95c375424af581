"""The checks of the chapters' exercises (``lmbase.exercises.check_answer`` runs them).

Each ``check_*`` takes the learner's function, calls it on cases of its own and raises
``AssertionError`` naming what differs; a stub that raises ``NotImplementedError`` is let through,
so that the chapter can say it is not answered yet.
"""

import copy
import tempfile

import torch
from torch import nn

from lmbase.kv_cache_arithmetic import kv_cache_bytes

from .llama import LlamaConfig
from .lora import LoRALinear, apply_lora, lora_layers, save_adapter
from .model import GPT, GPTConfig


# ---- chapter 3: attention ---------------------------------------------------------------------

def check_score_matrix_bytes(score_matrix_bytes) -> None:
    """``score_matrix_bytes(context_length, heads, batch, bytes_per_number=4)``: the bytes of the
    (batch, heads, T, T) score matrices that written-out attention holds at once (compared with
    the size of such a tensor, and with that product for long contexts)."""
    for length, heads, batch, dtype in [(7, 3, 2, torch.float32), (16, 1, 5, torch.bfloat16)]:
        scores = torch.empty(batch, heads, length, length, dtype=dtype)
        expected = scores.nelement() * scores.element_size()
        got = score_matrix_bytes(length, heads, batch, scores.element_size())
        assert got == expected, (
            f"T = {length}, {heads} heads, batch {batch}, {scores.element_size()} bytes a number: "
            f"{got} bytes, but a ({batch}, {heads}, {length}, {length}) tensor takes {expected}: "
            f"one T x T matrix per head and per sequence")
    expected = 8 * 16 * 32_768**2 * 4
    got = score_matrix_bytes(32_768, 16, 8)
    assert got == expected, f"T = 32,768, 16 heads, batch 8, float32: {got}, expected {expected}"


# ---- chapter 7: LoRA --------------------------------------------------------------------------

def check_rescaled_lora(rescaled) -> None:
    """``rescaled(layer, factor)``: a copy of the LoRALinear ``layer`` with alpha times ``factor``
    and B divided by it, which computes the same outputs; ``layer`` itself unchanged."""
    layer = LoRALinear(nn.Linear(32, 16), rank=4, alpha=8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=torch.Generator().manual_seed(1)))
    before = copy.deepcopy(layer)
    x = torch.randn(5, 32, generator=torch.Generator().manual_seed(2))
    for factor in (2.0, 0.5):
        other = rescaled(layer, factor)
        assert other is not layer, "return a copy (copy.deepcopy) and leave the layer you were given as it was"
        assert other.alpha == layer.alpha * factor, f"alpha should be {layer.alpha * factor}, not {other.alpha}"
        assert other.scaling == other.alpha / other.rank, (
            f"scaling is {other.scaling}, but the layer computes with alpha / rank = {other.alpha / other.rank}: "
            f"set both")
        torch.testing.assert_close(other.lora_B, layer.lora_B / factor, msg="B should be divided by the factor")
        with torch.no_grad():
            torch.testing.assert_close(other(x), layer(x), atol=1e-6, rtol=0,
                                       msg="the rescaled layer should compute what the original computes")
    assert torch.equal(layer.lora_B, before.lora_B) and layer.alpha == before.alpha, "the original layer changed"


def check_best_rank_r(best_rank_r) -> None:
    """``best_rank_r(update, r)``: the rank-r matrix closest to ``update`` (Frobenius norm), which
    is what a rank-r adapter can at best learn of a change of the weights."""
    generator = torch.Generator().manual_seed(0)
    rank_2 = torch.randn(16, 2, generator=generator) @ torch.randn(2, 16, generator=generator)
    full = torch.randn(12, 20, generator=generator)
    for update, r in [(rank_2, 2), (rank_2, 1), (full, 4), (full, 1)]:
        got = best_rank_r(update, r)
        assert got.shape == update.shape, f"the answer has shape {tuple(got.shape)}, not {tuple(update.shape)}"
        rank = torch.linalg.matrix_rank(got).item()
        assert rank <= r, f"the answer for r = {r} has rank {rank}: keep only the r largest singular values"
        best_error = torch.linalg.svdvals(update)[r:].square().sum().sqrt()
        error = (got - update).norm()
        assert error <= best_error + 1e-4 * update.norm(), (
            f"for r = {r} the error is {error:.4f}, and the best rank-{r} matrix has {best_error:.4f} "
            f"(Eckart-Young: truncate the singular value decomposition)")


def check_outputs_with_adapter(outputs_with) -> None:
    """``outputs_with(host, folder, ids)``: the host model's logits for ``ids`` once the adapter saved
    in ``folder`` is loaded into it."""
    base = GPT(GPTConfig(vocab_size=20, context=16, n_layer=1, n_head=2, d_model=16), seed=0).eval()
    ids = torch.randint(0, 20, (2, 16), generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as scratch:
        tuned = {}
        for seed in (1, 2):
            model = copy.deepcopy(base)
            apply_lora(model, ["attn.qkv"], rank=2, seed=seed)
            with torch.no_grad():
                for layer in lora_layers(model).values():
                    layer.lora_B.normal_(0, 0.1 * seed)
                tuned[seed] = (f"{scratch}/adapter-{seed}", model(ids))
            save_adapter(tuned[seed][0], model)
        host = copy.deepcopy(base)
        for seed in (1, 2, 1):  # swapped in, out and back
            folder, expected = tuned[seed]
            with torch.no_grad():
                got = outputs_with(host, folder, ids)
            torch.testing.assert_close(got, expected, atol=1e-6, rtol=0,
                                       msg=f"after loading {folder.rsplit('/', 1)[-1]} the host should compute what "
                                           f"the model that saved it computed")


# ---- chapter 8: LLaMA -------------------------------------------------------------------------

def check_kv_cache_bytes_of(kv_cache_bytes_of) -> None:
    """``kv_cache_bytes_of(config, seq_len, bytes_per_value=2)``: the bytes of the keys and values
    that a ``LlamaConfig`` model caches for one sequence of ``seq_len`` tokens (compared with
    ``lmbase.kv_cache_arithmetic.kv_cache_bytes``)."""
    for name, seq_len, size in [("llama2-70b", 4096, 2), ("llama2-70b", 100, 4), ("tiny", 64, 4)]:
        c = LlamaConfig.named(name)
        expected = kv_cache_bytes(c.n_layer, c.n_kv_head * c.head_dim, seq_len, bytes_per_value=size)
        got = kv_cache_bytes_of(c, seq_len, size)
        assert got == expected, (
            f"{name} ({c.n_layer} layers, {c.n_head} heads, {c.n_kv_head} key/value heads of "
            f"{c.head_dim}), {seq_len} tokens, {size} bytes a number: {got}, expected {expected}. "
            f"Each layer caches a key and a value per token, n_kv_head * head_dim numbers each")


# ---- chapter 10: quantization ------------------------------------------------------------------

def check_asymmetric_codes(asymmetric_codes) -> None:
    """``asymmetric_codes(w, bits)``: per-row asymmetric codes of w (rows, cols) as
    ``(codes, scales, zeros)``, shapes (rows, cols), (rows,), (rows,), with ``w ≈ (codes - zeros) · scales``."""
    from .quant import quantize

    generator = torch.Generator().manual_seed(0)
    cases = [torch.randn(4, 16, generator=generator), torch.rand(3, 8, generator=generator) + 0.5,
             -torch.rand(2, 8, generator=generator)]
    for w in cases:
        for bits in (8, 4, 2):
            codes, scales, zeros = asymmetric_codes(w, bits)
            expected = quantize(w, bits, symmetric=False)
            got = (torch.as_tensor(codes).float() - torch.as_tensor(zeros).float()[:, None]) * torch.as_tensor(
                scales).float()[:, None]
            assert int(torch.as_tensor(codes).max()) < 2**bits and int(torch.as_tensor(codes).min()) >= 0, (
                f"{bits}-bit codes must lie in [0, {2**bits - 1}]")
            torch.testing.assert_close(
                got, expected.dequantize(), atol=1e-6, rtol=0,
                msg=f"for {bits} bits the dequantized weights differ from round-to-nearest's: the levels span "
                    f"[min(w, 0), max(w, 0)] in 2**bits - 1 steps, and the zero point is round(-min / scale)")


def check_unpack_int4(unpack_int4) -> None:
    """``unpack_int4(packed)``: the 2n int4 codes held in n bytes, low nibble first."""
    from .quant import pack

    codes = torch.randint(0, 16, (64,), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    got = torch.as_tensor(unpack_int4(pack(codes, 4)))
    assert tuple(got.shape) == (64,), f"32 bytes hold 64 codes; got shape {tuple(got.shape)}"
    assert torch.equal(got[0::2], codes[0::2]), "the even codes are in the low nibbles (byte & 15)"
    assert torch.equal(got.to(torch.uint8), codes), "the odd codes are in the high nibbles (byte >> 4)"


def check_quantized_bytes(quantized_bytes) -> None:
    """``quantized_bytes(rows, cols, bits, group_size, symmetric)``: the bytes a QuantizedLinear
    (no bias) stores for a (rows, cols) weight."""
    from .quant import QuantizedLinear, quantize

    w = torch.randn(24, 96, generator=torch.Generator().manual_seed(0))
    for bits, group_size, symmetric in [(8, 96, True), (4, 32, True), (4, 32, False), (3, 48, True), (2, 16, False)]:
        layer = QuantizedLinear(quantize(w, bits, group_size, symmetric))
        stored = sum(t.numel() * t.element_size() for t in layer.state_dict().values())
        got = quantized_bytes(24, 96, bits, group_size, symmetric)
        assert got == stored, (
            f"bits={bits}, group_size={group_size}, symmetric={symmetric}: the layer stores {stored} bytes, "
            f"not {got} (codes packed, a float32 scale per group, and a uint8 zero point per group if asymmetric)")


# ---- chapter 12: mechanistic interpretability --------------------------------------------------

def check_previous_token_score(previous_token_score) -> None:
    """``previous_token_score(pattern)``: each head's mean attention from t >= 1 to t - 1, for a
    pattern (batch, n_head, seq, seq)."""
    from .interp.induction import previous_token_score as reference

    seq = 6
    previous = torch.zeros(seq, seq)
    previous[0, 0] = 1
    previous[torch.arange(1, seq), torch.arange(seq - 1)] = 1
    uniform = torch.ones(seq, seq).tril()
    uniform = uniform / uniform.sum(-1, keepdim=True)
    pattern = torch.stack([previous, torch.eye(seq), uniform])[None].repeat(2, 1, 1, 1)
    got = previous_token_score(pattern)
    assert tuple(got.shape) == (3,), f"expected one score per head, shape (3,), got {tuple(got.shape)}"
    assert abs(float(got[0]) - 1) < 1e-6, f"a head that always looks back one scores 1, not {float(got[0])}"
    assert abs(float(got[1])) < 1e-6, f"a head that looks at itself scores 0, not {float(got[1])}"
    torch.testing.assert_close(got, reference(pattern), msg="position 0 has no previous token: leave it out")


def check_fourier_basis(fourier_basis) -> None:
    """``fourier_basis(p)``: the (p, p) orthonormal basis of constant, cos k, sin k rows."""
    from .interp.fourier import fourier_basis as reference

    for p in (5, 13):
        got = torch.as_tensor(fourier_basis(p), dtype=torch.float64)
        assert tuple(got.shape) == (p, p), f"p={p}: expected shape ({p}, {p}), got {tuple(got.shape)}"
        gram = got @ got.T
        assert torch.allclose(gram, torch.eye(p, dtype=torch.float64), atol=1e-9), (
            f"p={p}: the rows are not orthonormal (largest |B Bᵀ - I| {(gram - torch.eye(p)).abs().max():.2e}): "
            f"scale the constant by 1/√p and each wave by √(2/p)")
        expected, names = reference(p)
        for row, name in enumerate(names):
            assert torch.allclose(got[row], expected[row], atol=1e-9), f"p={p}: row {row} should be {name!r}"


# ---- chapter 14: kernels ----------------------------------------------------------------------

def check_merged_normalizers(merge) -> None:
    """``merge(m1, l1, m2, l2)``: the online softmax's maximum and sum of a row from those of its
    two halves (each ``m`` the maximum of its half, ``l`` the sum of ``exp(x - m)`` over it)."""
    from .kernels.online_softmax import online_normalizer

    x = torch.randn(5, 40, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 30
    x[1, :20] = float("-inf")  # a first half that sees nothing
    x[2, 20:] = float("-inf")
    x[3] = float("-inf")  # nothing at all: m = -inf, l = 0
    (m1, l1), (m2, l2) = online_normalizer(x[:, :20], 20), online_normalizer(x[:, 20:], 20)
    m, l = merge(m1, l1, m2, l2)
    want_m, want_l = online_normalizer(x, 40)
    assert torch.equal(m, want_m), f"the maximum should be {want_m.tolist()}, not {m.tolist()}"
    assert not l.isnan().any(), (
        f"l has nan in rows {l.isnan().nonzero().flatten().tolist()}: exp(-inf - -inf) is nan; where the "
        f"maximum is -inf, rescale by 0")
    torch.testing.assert_close(l, want_l, rtol=1e-12, atol=0,
                               msg="rescale each half's sum by exp(its maximum - the new maximum) and add them")


def check_triton_rmsnorm(rmsnorm) -> None:
    """``rmsnorm(x, weight, eps)``: ``x / sqrt(mean(x²) + eps) · weight`` over the last dimension of
    a (rows, n) float32 tensor, by a Triton kernel (one row per program)."""
    generator = torch.Generator().manual_seed(0)
    for n in (64, 100):  # 100 columns: a row that is not a power of 2
        x = torch.randn(7, n, generator=generator) * 3
        weight = torch.randn(n, generator=generator)
        got = rmsnorm(x, weight, 1e-5)
        assert got.shape == x.shape, f"the output has shape {tuple(got.shape)}, not {tuple(x.shape)}"
        wide = x.double()
        want = wide * torch.rsqrt(wide.square().mean(-1, keepdim=True) + 1e-5) * weight.double()
        torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=1e-5,
                                   msg=f"rows of {n} columns: mask the loads past the row's end (other=0) and "
                                       f"divide the sum of squares by {n}, not by the block's size")


# ---- chapter 13: chain of thought -----------------------------------------------------------------

def check_scratchpad_completion(scratchpad_completion) -> None:
    """``scratchpad_completion(a, b, n_digits)``: the completion of ``lmbase.addition``'s
    ``scratchpad_reversed`` format, for every carry pattern."""
    from lmbase.addition import Problem, completion

    cases = [(45, 27, 2), (5, 4, 1), (999, 1, 3), (999, 999, 3), (100, 200, 3), (4567, 5678, 4)]
    for a, b, n in cases:
        right = completion(Problem(a, b, n), "scratchpad_reversed")
        got = scratchpad_completion(a, b, n)
        assert got == right, (
            f"for {a}+{b} ({n} digits) you wrote {got!r}, the format is {right!r}: one step per "
            f"column, units first, '+1' only after a column that carried, then ',ans:' and the "
            f"sum's digits units first, then '.'")


def check_wilson_halfwidth(problems_needed) -> None:
    """``problems_needed(accuracy, half_width)``: the fewest problems ``m`` whose Wilson interval
    around ``accuracy`` (``accuracy * m`` right answers) is at most ``half_width`` on either side."""
    from lmbase.addition import wilson_interval

    def fits(accuracy, half_width, m):
        low, high = wilson_interval(accuracy * m, m)
        return high - low <= 2 * half_width

    for accuracy, half_width in [(0.9, 0.02), (0.5, 0.05), (0.99, 0.01), (0.7, 0.1)]:
        m = problems_needed(accuracy, half_width)
        assert fits(accuracy, half_width, m), (
            f"at accuracy {accuracy}, {m} problems give an interval wider than ±{half_width}: "
            f"you need more")
        assert not fits(accuracy, half_width, m - 1), (
            f"at accuracy {accuracy}, {m - 1} problems already give ±{half_width}: "
            f"{m} is not the fewest")


# ---- chapter 6: BabyGPT in PyTorch -------------------------------------------------------------

def check_accumulated_gradients(accumulate_gradients) -> None:
    """``accumulate_gradients(model, x, y, n_micro)``: leave in every parameter's ``.grad`` the
    gradient of the mean cross-entropy of the batch ``(x, y)`` (batch, seq), computed from
    ``n_micro`` equal micro-batches, one backward pass each, replacing any gradient already
    there (compared with the whole batch's gradient, from ``torch.autograd.grad``)."""
    from .model import cross_entropy

    model = GPT(GPTConfig(vocab_size=20, context=16, n_layer=1, n_head=2, d_model=16), seed=0)
    generator = torch.Generator().manual_seed(0)
    x, y = (torch.randint(0, 20, (8, 16), generator=generator) for _ in range(2))
    names, params = zip(*model.named_parameters())
    expected = torch.autograd.grad(cross_entropy(model(x), y), params)
    for n_micro in (1, 2, 4, 8):
        for p in params:
            p.grad = torch.full_like(p, 0.5)  # what the previous step left behind
        accumulate_gradients(model, x, y, n_micro)
        for name, p, want in zip(names, params, expected):
            assert p.grad is not None, (
                f"{name} has no gradient: call backward() on each micro-batch's loss")
            ratio = (p.grad.norm() / want.norm()).item()
            torch.testing.assert_close(
                p.grad, want, atol=1e-6, rtol=1e-4,
                msg=lambda detail: (
                    f"{n_micro} micro-batches of {8 // n_micro}: the gradient of {name} is not the "
                    f"whole batch's (its norm is {ratio:.3f} times the right one). Zero the "
                    f"gradients first (model.zero_grad()), and divide each micro-batch's loss by "
                    f"{n_micro} before backward(), so that the sum is the mean. {detail}"))


def _counted_training_flops(config: GPTConfig, stack_passes: int, batch: int = 2) -> float:
    """FLOPs per token of one training step of ``GPT(config)`` whose stack of blocks runs
    ``stack_passes`` times, as ``torch.utils.flop_counter`` counts them, on the meta device."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from .model import cross_entropy

    with torch.device("meta"):
        model = GPT(config)
        ids = torch.zeros(batch, config.context, dtype=torch.long)
        counter = FlopCounterMode(display=False)
        with counter, sdpa_kernel(SDPBackend.MATH):  # attention as two batched products
            x = model.tok_emb(ids) + model.pos_emb(torch.arange(config.context))
            for _ in range(stack_passes):
                for block in model.blocks:
                    x = block(x)
            cross_entropy(model.head(model.ln_f(x)), ids).backward()
    return counter.get_total_flops() / (batch * config.context)


def check_flops_per_token(flops_per_token) -> None:
    """``flops_per_token(config, stack_passes=1)``: the training FLOPs per token of the matrix
    products of a babygpt GPT whose stack of ``n_layer`` blocks runs ``stack_passes`` times
    (compared with PyTorch's FLOP counter on a forward and backward pass)."""
    cases = [
        (GPTConfig.named("tiny"), 1),
        (GPTConfig.named("tiny"), 3),
        (GPTConfig(vocab_size=30, context=24, n_layer=3, n_head=2, d_model=32, bias=False,
                   tie_head=False, head_bias=True), 1),
        (GPTConfig.named("babygpt-original"), 8),  # the seed's trainer: the stack once per layer
    ]
    for c, passes in cases:
        expected = _counted_training_flops(c, passes)
        got = flops_per_token(c, passes)
        assert abs(got - expected) <= 1e-9 * expected, (
            f"n_vocab={c.vocab_size}, T={c.context}, n_layer={c.n_layer}, d={c.d_model}, "
            f"tie_head={c.tie_head}, the stack run {passes} time(s): {got:,.0f} FLOPs per token, "
            f"but PyTorch's counter finds {expected:,.0f}. A training step costs 3 forward "
            f"passes: 6 FLOPs per weight of every linear layer (12 d^2 a block) and of the head "
            f"(n_vocab d, once), and 12 d T a block for attention's scores and weighted sums, "
            f"for every time a block runs; biases, LayerNorms and the embedding lookups multiply "
            f"nothing")


# ---- chapter 9: inference ----------------------------------------------------------------------

def check_cache_bytes(cache_bytes) -> None:
    """``cache_bytes(config, batch, seq_len, bytes_per_value=2)``: the bytes of the KV cache of
    a babygpt GPT for ``batch`` sequences of ``seq_len`` tokens (compared with the caches the
    model allocates, ``GPT.new_kv_caches``)."""
    gpt2 = GPTConfig(vocab_size=50257, context=1024, n_layer=12, n_head=12, d_model=768)
    cases = [(GPTConfig.named("tiny"), 3, 64, torch.float32), (GPTConfig.named("tiny"), 1, 10, torch.float32),
             (GPTConfig.named("nanogpt-baby"), 16, 256, torch.bfloat16), (gpt2, 16, 1024, torch.bfloat16)]
    for c, batch, seq_len, dtype in cases:
        with torch.device("meta"):
            caches = GPT(c).to(dtype).new_kv_caches(batch, seq_len)
        expected = sum(cache.nbytes() for cache in caches)
        size = dtype.itemsize
        got = cache_bytes(c, batch, seq_len, size)
        assert got == expected, (
            f"{c.n_layer} layers of width {c.d_model}, {batch} sequences of {seq_len} tokens, "
            f"{size} bytes a number: {got:,} bytes, but the model's caches hold {expected:,}. "
            f"Every layer keeps a key and a value of d numbers for every token of every sequence")
