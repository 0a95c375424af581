"""Induction scores, the halves' losses and head ablation."""

import math

import pytest
import torch

from babygpt.interp.hooks import run_with_hooks
from babygpt.interp.induction import (attention_only_llama, half_losses, induction_score,
                                      previous_token_score, repeated_tokens, train_induction, zero_heads)


def test_repeated_tokens_repeat_and_keep_their_length():
    ids = repeated_tokens(3, 8, 20, torch.Generator().manual_seed(0))
    assert ids.shape == (3, 16) and torch.equal(ids[:, :8], ids[:, 8:])
    short = repeated_tokens(3, 8, 20, torch.Generator().manual_seed(0), period=5)
    assert short.shape == (3, 16) and torch.equal(short[:, 6:11], short[:, 11:])
    with pytest.raises(ValueError, match="period=9"):
        repeated_tokens(3, 8, 20, torch.Generator(), period=9)


def test_scores_of_hand_built_patterns():
    half, seq = 5, 10
    induction = torch.zeros(seq, seq)
    previous = torch.zeros(seq, seq)
    for t in range(seq):
        previous[t, max(t - 1, 0)] = 1
        induction[t, t - half + 1 if t >= half else t] = 1
    pattern = torch.stack([induction, previous, torch.eye(seq)])[None]
    torch.testing.assert_close(induction_score(pattern), torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(previous_token_score(pattern), torch.tensor([0.0, 1.0, 0.0]))


def test_half_losses_of_a_model_that_copies_perfectly():
    half, vocab = 5, 7
    ids = repeated_tokens(2, half, vocab, torch.Generator().manual_seed(0))
    logits = torch.zeros(2, 2 * half, vocab)
    logits[:, half:-1] = 50 * torch.nn.functional.one_hot(ids[:, half + 1:], vocab)
    first, second = half_losses(logits, ids)
    assert abs(first - math.log(vocab)) < 1e-6 and second < 1e-6


def test_zeroing_every_head_leaves_only_the_direct_path():
    model = attention_only_llama(16, 4, d_model=32, n_head=2).eval()
    ids = repeated_tokens(2, 4, 16, torch.Generator().manual_seed(0))
    heads = [(layer, head) for layer in range(2) for head in range(2)]
    logits = run_with_hooks(model, ids, zero_heads(model, heads))
    direct = model.output(model.norm(model.tok_embeddings(ids)))
    torch.testing.assert_close(logits, direct, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"head \(2, 0\) does not exist.*2 layers of 2 heads"):
        zero_heads(model, [(2, 0)])


def test_training_a_few_steps_records_its_history():
    model = attention_only_llama(16, 4, d_model=32, n_head=2)
    history = train_induction(model, 4, steps=6, eval_every=3)
    assert history["step"] == [3, 6] and len(history["induction"]) == 2 and not model.training


def test_the_learning_rate_warms_up():
    """Adam moves each weight by about the learning rate on its first steps, so two steps at the
    start of a 1,000-step warmup move none by more than 2 · 3e-3 · 2/1000."""
    def largest_move(warmup):
        model = attention_only_llama(16, 4, d_model=32, n_head=2)
        before = [p.detach().clone() for p in model.parameters()]
        train_induction(model, 4, steps=2, lr=3e-3, warmup=warmup, eval_every=2)
        return max((p - b).abs().max().item() for p, b in zip(model.parameters(), before))
    assert largest_move(warmup=1000) < 2 * 3e-3 * 2 / 1000 < 1e-3 < largest_move(warmup=0)
