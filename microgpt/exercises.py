"""The checks of the JAX chapters' exercises (``lmbase.exercises.check_answer`` runs them).

Each ``check_*`` takes the learner's function, calls it on cases of its own and raises
``AssertionError`` naming what differs; a stub that raises ``NotImplementedError`` is let through,
so that the chapter can say it is not answered yet.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .model import GPTConfig, init_params


# ---- chapter 4: a GPT from math ---------------------------------------------------------------

def check_count_by_hand(count_by_hand) -> None:
    """``count_by_hand(config)``: the parameters of microgpt's GPT for a ``GPTConfig``, from its
    sizes, for every block style (compared with the size of the tree ``init_params`` makes)."""
    cases = [
        GPTConfig(vocab_size=65, context=64, n_layer=2, n_head=4, d_model=32),
        GPTConfig(vocab_size=8000, context=512, n_layer=4, n_head=12, d_model=384),
        GPTConfig(vocab_size=9000, context=512, n_layer=4, n_head=8, d_model=512, block="seed",
                  final_norm=False, shared_block_init=True, ln_eps_inside_sqrt=False),
        GPTConfig(vocab_size=100, context=32, n_layer=3, n_head=2, d_model=16,
                  block="seed_normed_residual", final_norm=False),
        GPTConfig(vocab_size=100, context=32, n_layer=1, n_head=2, d_model=16, block="seed",
                  final_norm=True),
    ]
    for c in cases:
        shapes = jax.eval_shape(lambda: init_params(c))  # the tree's shapes, nothing computed
        expected = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))
        got = count_by_hand(c)
        assert got == expected, (
            f"vocab_size={c.vocab_size}, d_model={c.d_model}, n_layer={c.n_layer}, "
            f"block={c.block!r}, final_norm={c.final_norm}: {got:,} parameters, but the model "
            f"has {expected:,}. Per block: four d x d attention matrices, the FFN's d x 4d and "
            f"4d x d matrices and their biases, and a scale and a bias of width d for each "
            f"LayerNorm (two in 'pre_norm', one otherwise); once: the embedding, which is also "
            f"the head, and the final LayerNorm when final_norm")


def check_top_p_filter(top_p_filter) -> None:
    """``top_p_filter(logits, p)``: the logits ``(batch, vocab)`` with every token outside the
    nucleus set to -inf, the nucleus being the likeliest tokens, taken in order of probability,
    up to and including the first that brings their sum to ``p`` (``p = 1`` keeps every token)."""
    rng = np.random.default_rng(0)
    peaked = np.array([[8.0, 1.0, 0.5, 0.0, -1.0, -2.0]])  # the first token alone is 99.8 %
    flat_tail = np.concatenate([[[30.0]], rng.normal(-60, 1, (1, 5))], axis=1)  # tiny probabilities
    cases = [(rng.normal(0, 2, (4, 12)), p) for p in (0.05, 0.3, 0.6, 0.9, 1.0)]
    cases += [(peaked, 0.5), (peaked, 0.999), (flat_tail, 1.0), (rng.normal(0, 1, (2, 50)), 0.75)]
    for logits, p in cases:
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        expected = np.full(logits.shape, -np.inf)
        for row in range(logits.shape[0]):
            total = 0.0
            for token in np.argsort(-logits[row], kind="stable"):
                if total >= p and p < 1:
                    break
                expected[row, token] = logits[row, token]
                total += probs[row, token]
        got = np.asarray(top_p_filter(jnp.asarray(logits, jnp.float32), p), np.float64)
        assert got.shape == logits.shape, (
            f"the answer has shape {got.shape}: return the logits {logits.shape}, one row per "
            f"sequence, with the tokens outside the nucleus set to -inf")
        kept, should_keep = np.isfinite(got), np.isfinite(expected)
        for row in range(logits.shape[0]):
            assert np.array_equal(kept[row], should_keep[row]), (
                f"p = {p}, row {row}, probabilities {np.round(probs[row], 3).tolist()}: you keep "
                f"tokens {np.flatnonzero(kept[row]).tolist()}, the nucleus is "
                f"{np.flatnonzero(should_keep[row]).tolist()}. Sort by probability (softmax along "
                f"the vocabulary), and keep a token while the tokens before it add up to less "
                f"than p: the one that crosses p is kept, and p = 1 keeps them all")
        assert np.allclose(got[kept], logits[kept], atol=1e-5), (
            f"p = {p}: the kept tokens' logits changed; leave them as they are and set the "
            f"others to -inf")


# ---- chapter 5: training ----------------------------------------------------------------------

def _warmup_cosine(step, peak, warmup, decay_steps, end):
    """The warmup-and-cosine learning rate at ``step``, in float64."""
    if step < warmup:
        return peak * step / warmup
    progress = min(step - warmup, decay_steps - warmup) / (decay_steps - warmup)
    return end + 0.5 * (peak - end) * (1 + math.cos(math.pi * progress))


def check_first_step_below(first_step_below) -> None:
    """``first_step_below(target, peak, warmup, decay_steps, end)``: the first step after the
    warmup at which the warmup-and-cosine rate (peak at ``warmup``, ``end`` at ``decay_steps``)
    is below ``target`` (compared with the rate step by step)."""
    cases = [
        (2.5e-4, 5e-4, 100, 7600, 1e-5),  # the seed's experiment 1, half its peak
        (1e-4, 1e-3, 10, 1000, 0.0),
        (9e-4, 1e-3, 100, 5000, 1e-4),  # just after the peak
        (2e-5, 5e-4, 100, 20000, 1e-5),  # near the end
        (6e-4, 1e-3, 0, 333, 2e-4),  # no warmup
    ]
    for target, peak, warmup, decay_steps, end in cases:
        expected = next(u for u in range(warmup, decay_steps + 1)
                        if _warmup_cosine(u, peak, warmup, decay_steps, end) < target)
        got = first_step_below(target, peak, warmup, decay_steps, end)
        assert got == expected, (
            f"target {target}, peak {peak}, warmup {warmup}, end {end} at step {decay_steps}: "
            f"step {got}, expected {expected} (the rate there is "
            f"{_warmup_cosine(expected, peak, warmup, decay_steps, end):.4e}, and "
            f"{_warmup_cosine(expected - 1, peak, warmup, decay_steps, end):.4e} the step "
            f"before). Solve end + (peak - end)(1 + cos x) / 2 = target for x, which is "
            f"pi (u - warmup) / (decay_steps - warmup), and take the first whole step past it")


def check_adamw_step(adamw_step) -> None:
    """``adamw_step(theta, g, m, v, u, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.01)``: the weights
    and the two moments ``(theta, m, v)`` after AdamW's update ``u`` (counted from 1) with the
    gradient ``g`` (compared with ``optax.adamw`` over several steps)."""
    rng = np.random.default_rng(0)
    for lr, b1, b2, wd in [(0.1, 0.9, 0.999, 0.01), (3e-3, 0.8, 0.95, 0.1)]:
        theta = jnp.asarray(rng.normal(0, 1, (2, 3)), jnp.float32)
        optimizer = optax.adamw(lr, b1=b1, b2=b2, eps=1e-8, weight_decay=wd)
        state = optimizer.init(theta)
        reference = theta
        m, v = jnp.zeros_like(theta), jnp.zeros_like(theta)
        for u in range(1, 6):
            g = jnp.asarray(rng.normal(0, 1, (2, 3)), jnp.float32)
            updates, state = optimizer.update(g, state, reference)
            reference = optax.apply_updates(reference, updates)
            theta, m, v = adamw_step(theta, g, m, v, u, lr, b1, b2, 1e-8, wd)
            assert np.asarray(theta).shape == (2, 3), (
                f"theta has shape {np.asarray(theta).shape}, not (2, 3): return (theta, m, v)")
            error = float(jnp.abs(theta - reference).max())
            assert error < 1e-5, (
                f"lr={lr}, b1={b1}, b2={b2}, wd={wd}, after step {u}: the weights differ from "
                f"optax's by up to {error:.2e} (yours {np.asarray(theta)[0].round(6).tolist()}..., "
                f"optax's {np.asarray(reference)[0].round(6).tolist()}...). Update m and v, "
                f"divide them by 1 - b1**u and 1 - b2**u, and subtract lr times the Adam step "
                f"plus wd times the weights before the step")
