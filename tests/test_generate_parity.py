"""The two engines agree: microgpt's decoding strategies give babygpt's numbers (babygpt's are
checked against transformers), and a microgpt checkpoint gives the same greedy text in both
packages, for prompts of different lengths and past the end of the context."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from babygpt import generate as babygpt_generate
from babygpt.checkpoint import load_model
from microgpt import checkpoint as microgpt_checkpoint
from microgpt import generate as microgpt_generate
from tests.microgpt.test_generate import BLOCKS

RNG = np.random.default_rng(0)
LOGITS = (3 * RNG.standard_normal((6, 50))).astype(np.float32)
SEEN = RNG.random((6, 50)) < 0.2
SETTINGS = [
    dict(temperature=0.0), dict(temperature=0.7), dict(temperature=1.5), dict(top_k=1), dict(top_k=7),
    dict(top_p=0.05), dict(top_p=0.5), dict(top_p=0.9), dict(min_p=0.05), dict(min_p=0.3),
    dict(temperature=0.8, top_k=20, top_p=0.9, min_p=0.05),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ", ".join(f"{k}={v}" for k, v in s.items()))
def test_the_same_logits_give_the_same_distribution_in_both_packages(settings):
    ours = np.asarray(microgpt_generate.next_token_probs(jnp.asarray(LOGITS), **settings))
    theirs = babygpt_generate.next_token_probs(torch.from_numpy(LOGITS), **settings).numpy()
    np.testing.assert_array_equal(ours > 0, theirs > 0)  # the same tokens kept
    np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize("penalty", [1.3, 0.7])
def test_the_same_repetition_penalty_in_both_packages(penalty):
    ours = microgpt_generate.apply_repetition_penalty(jnp.asarray(LOGITS), jnp.asarray(SEEN), penalty)
    theirs = babygpt_generate.apply_repetition_penalty(torch.from_numpy(LOGITS), torch.from_numpy(SEEN), penalty)
    np.testing.assert_allclose(np.asarray(ours), theirs.numpy(), atol=1e-6, rtol=0)
    assert not np.allclose(np.asarray(ours), LOGITS)


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_a_microgpt_checkpoint_gives_the_same_greedy_text_in_babygpt(block, tmp_path):
    params, config = BLOCKS[block]()
    microgpt_checkpoint.save(tmp_path, params, config)
    model, _ = load_model(tmp_path)
    # lengths 3, 1 and 16 (the whole context) with 40 new tokens: every row's window slides
    prompts = [np.array([1, 2, 3]), np.array([4]), np.arange(16) % config.vocab_size]
    theirs = microgpt_generate.generate(params, prompts, config, 40, temperature=0.0)
    ours = babygpt_generate.generate(model.eval(), [torch.from_numpy(p) for p in prompts], 40, temperature=0)
    for a, b in zip(theirs, ours):
        np.testing.assert_array_equal(a, b.numpy())
    assert len(np.unique(theirs[0][3:])) >= 4  # a real sequence, not one token
