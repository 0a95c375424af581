"""microgpt.speculative: greedy speculative decoding gives the target's greedy text; sampled, each
token has the target's distribution, over many seeded draws, by a margin a wrong rule fails."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from microgpt.generate import generate, next_token_probs
from microgpt.model import GPTConfig, forward
from microgpt import speculative
from microgpt.speculative import speculative_generate, verify
from tests.microgpt.test_generate import lively

TARGET = GPTConfig(vocab_size=30, context=40, n_layer=2, n_head=2, d_model=32)
TARGET_PARAMS = lively(TARGET)
DRAFT_PARAMS = jax.tree.map(lambda a: a, TARGET_PARAMS)  # the target itself, as a tree of its own


def weakened(params):
    """A draft that agrees with the target often, not always: its second block's matrices scaled
    down (a real draft is smaller; these tests are about the rule, not speed)."""
    second = jax.tree.map(lambda a: a * 0.3 if a.ndim == 2 else a, params["blocks"][1])
    return dict(params, blocks=[params["blocks"][0], second])


def total_variation(a, b) -> float:
    return 0.5 * float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).sum())


def frequencies(tokens, vocab: int):
    return np.bincount(np.asarray(tokens), minlength=vocab) / len(tokens)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_greedy_speculative_decoding_is_the_targets_greedy_text(k):
    got = speculative_generate(TARGET_PARAMS, TARGET, weakened(TARGET_PARAMS), TARGET, [1, 2, 3], 30, k=k,
                               temperature=0.0)
    np.testing.assert_array_equal(got.ids, generate(TARGET_PARAMS, [1, 2, 3], TARGET, 30, temperature=0.0))
    assert 0 < got.accepted < got.proposed  # proposals kept and proposals rejected: both branches ran


def test_the_rule_keeps_the_targets_distribution_at_every_position():
    kp, kq, kd, kv = jax.random.split(jax.random.key(0), 4)
    logits = jax.random.normal(kp, (1, 3, 6))
    p = jax.nn.softmax(logits, -1)  # the target at 2 drafted positions and the one after
    q = jax.nn.softmax(logits[:, :2] + 1.5 * jax.random.normal(kq, (1, 2, 6)), -1)  # a draft, roughly right
    n = 200_000
    drafted = jax.random.categorical(kd, jnp.log(q), axis=-1, shape=(n, 2))
    n_accepted, next_token = verify(jnp.broadcast_to(p, (n, 3, 6)), jnp.broadcast_to(q, (n, 2, 6)), drafted, kv)
    n_accepted, next_token, drafted = (np.asarray(a) for a in (n_accepted, next_token, drafted))
    first = np.where(n_accepted >= 1, drafted[:, 0], next_token)
    kept = n_accepted >= 1  # given the first proposal was kept, the second token is p's at position 2
    second = np.where(n_accepted[kept] >= 2, drafted[kept, 1], next_token[kept])
    # 200,000 draws of 6 tokens: the total variation of a correct rule is about 0.002
    assert total_variation(frequencies(first, 6), p[0, 0]) < 0.006
    assert total_variation(frequencies(second, 6), p[0, 1]) < 0.01
    # ...and a wrong rule fails that bound by far: accepting every proposal gives q, this far from p
    assert total_variation(q[0, 0], p[0, 0]) > 0.2 and total_variation(q[0, 1], p[0, 1]) > 0.2
    assert 0.2 < kept.mean() < 0.9  # both branches taken often


def test_sampled_speculative_decoding_draws_the_first_token_from_the_target():
    target_config = GPTConfig(vocab_size=6, context=8, n_layer=2, n_head=2, d_model=32)
    draft_config = GPTConfig(vocab_size=6, context=8, n_layer=1, n_head=2, d_model=16)
    target, draft = lively(target_config), lively(draft_config, seed=6)
    prompt, settings = [1, 2], dict(temperature=0.8, top_k=4)
    p = next_token_probs(forward(target, jnp.asarray([prompt]), target_config)[:, -1], **settings)[0]
    q = next_token_probs(forward(draft, jnp.asarray([prompt]), draft_config)[:, -1], **settings)[0]
    firsts = [speculative_generate(target, target_config, draft, draft_config, prompt, 2, k=1,
                                   key=jax.random.key(s), **settings).ids[0, 2] for s in range(300)]
    # 300 draws of 6 tokens: a correct rule's total variation is about 0.05; the draft's own
    # distribution, which a rule accepting everything would give, is more than 0.3 away
    assert total_variation(frequencies(firsts, 6), p) < 0.12
    assert total_variation(q, p) > 0.3


def test_both_caches_hold_every_token_of_the_text_and_a_perfect_draft_is_always_accepted(monkeypatch):
    # per model (by its parameter tree), position -> the token last written there
    written = {id(TARGET_PARAMS): {}, id(DRAFT_PARAMS): {}}
    for name in ("cached_step", "propose", "check"):
        original = getattr(speculative, name)

        def recorded(params, tokens, start, *args, original=original, **kwargs):
            for i, token in enumerate(np.asarray(tokens)[0].tolist()):
                written[id(params)][int(start[0]) + i] = token
            return original(params, tokens, start, *args, **kwargs)

        monkeypatch.setattr(speculative, name, recorded)
    got = speculative.speculative_generate(TARGET_PARAMS, TARGET, DRAFT_PARAMS, TARGET, [1, 2, 3], 25, k=4,
                                           temperature=0.0)
    text = got.ids[0].tolist()
    # every position but the last holds its token of the text in both caches (rejected proposals
    # were overwritten, and the last proposal of a round is cached too)
    for model in written.values():
        assert all(model.get(p) == text[p] for p in range(len(text) - 1))
    # greedy, the draft (the target itself) has the target's argmax everywhere: every proposal is kept
    assert got.proposed >= 20 and got.acceptance_rate == 1.0


def test_bad_input_raises_errors_that_name_the_value_and_the_fix():
    target = TARGET_PARAMS
    other = GPTConfig(vocab_size=31, context=40, n_layer=1, n_head=2, d_model=16)
    with pytest.raises(ValueError, match="the draft model's vocabulary has 31 tokens and the target's 30: "
                                         "the draft must propose token ids the target reads"):
        speculative_generate(target, TARGET, lively(other), other, [1, 2, 3], 5)
    with pytest.raises(ValueError, match="make 41 tokens, past the context of 40 .* ask for at most 40 in all"):
        speculative_generate(target, TARGET, target, TARGET, [1, 2, 3], 38)
    with pytest.raises(ValueError, match="k=0 .* propose k >= 1 tokens a round"):
        speculative_generate(target, TARGET, target, TARGET, [1, 2, 3], 5, k=0)
