"""Activation patching."""

import torch

from babygpt.interp.hooks import run_with_cache, run_with_hooks
from babygpt.interp.induction import attention_only_llama
from babygpt.interp.patching import (induction_pair, logit_difference, patch, patch_heads,
                                     patch_residual_stream)


def setup():
    model = attention_only_llama(16, 5, d_model=32, n_head=2, seed=3).eval()
    return model, *induction_pair(3, 5, 16, torch.Generator().manual_seed(0))


def test_the_pair_differs_in_one_token_and_so_do_the_answers():
    _, clean, corrupted, answer, wrong = setup()
    assert clean.shape == (3, 9) and ((clean != corrupted).sum(1) == 1).all()
    assert torch.equal(clean[:, 4], answer) and torch.equal(corrupted[:, 4], wrong) and (answer != wrong).all()
    assert torch.equal(clean[:, 5:], clean[:, :4])


def test_patching_the_whole_clean_activation_restores_the_clean_output_exactly():
    model, clean, corrupted, answer, wrong = setup()
    clean_logits, cache = run_with_cache(model, clean, ["blocks.0.resid_pre", "blocks.1.attn.z"])
    for name in cache:
        patched = run_with_hooks(model, corrupted, {name: patch(cache[name])})
        if name == "blocks.0.resid_pre":
            assert torch.equal(patched, clean_logits)
    # the last block's output at the last position carries the whole answer
    shares = patch_residual_stream(model, clean, corrupted, answer, wrong)
    assert shares.shape == (3, 9)
    torch.testing.assert_close(shares[-1, -1], torch.tensor(1.0))
    torch.testing.assert_close(shares[0, 4], torch.tensor(1.0), atol=1e-5, rtol=0)  # the one token changed
    assert shares[0, :4].abs().max() < 1e-5  # tokens the corruption did not touch restore nothing


def test_patching_a_head_at_one_position_touches_only_that_head():
    model, clean, corrupted, *_ = setup()
    _, cache = run_with_cache(model, clean, ["blocks.1.attn.z"])
    seen = {}
    run_with_hooks(model, corrupted, {"blocks.1.attn.z": lambda z: seen.setdefault("z", patch(cache["blocks.1.attn.z"], 8, 1)(z))})
    _, corrupted_cache = run_with_cache(model, corrupted, ["blocks.1.attn.z"])
    changed = (seen["z"] != corrupted_cache["blocks.1.attn.z"]).any(-1)
    assert changed[:, 8, 1].all() and changed.sum() == 3


def test_head_shares_and_the_logit_difference():
    model, clean, corrupted, answer, wrong = setup()
    shares = patch_heads(model, clean, corrupted, answer, wrong)
    assert shares.shape == (2, 2) and torch.isfinite(shares).all()
    logits = torch.zeros(1, 2, 4)
    logits[0, -1] = torch.tensor([0.0, 3.0, 1.0, 0.0])
    assert logit_difference(logits, torch.tensor([1]), torch.tensor([2])) == 2.0
