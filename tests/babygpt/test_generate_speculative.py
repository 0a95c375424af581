"""babygpt.speculative: greedy speculative decoding gives the target's greedy text; sampled, each
token has the target's distribution, over many seeded draws, by a margin a wrong rule fails."""

import copy

import pytest
import torch

from babygpt.generate import generate, next_token_probs
from babygpt.llama import Llama, LlamaConfig
from babygpt.model import GPT, GPTConfig
from babygpt.speculative import speculative_generate, verify
from tests.babygpt.test_generate import lively

PROMPT = torch.tensor([[1, 2, 3]])
SMALL = dict(vocab_size=20, context=40, n_layer=1, n_head=2, d_model=16)
TARGETS = {
    "gpt": lambda: lively(GPT(GPTConfig(vocab_size=20, context=40, n_layer=2, n_head=2, d_model=32), seed=1), 30),
    "llama": lambda: lively(Llama(LlamaConfig(vocab_size=20, context=40, n_layer=2, n_head=4, n_kv_head=2,
                                              d_model=32, hidden_dim=64), seed=1), 2),
}


def weakened(model):
    """A draft that agrees with the target often, not always: a copy with its second block's
    matrices scaled down (a real draft is smaller; these tests are about the rule, not speed)."""
    draft = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in draft.named_parameters():
            if name.startswith(("blocks.1.", "layers.1.")) and p.ndim == 2:
                p.mul_(0.3)
    return draft


def total_variation(a: torch.Tensor, b: torch.Tensor) -> float:
    return 0.5 * (a.double() - b.double()).abs().sum().item()


def frequencies(tokens: torch.Tensor, vocab: int) -> torch.Tensor:
    return torch.bincount(tokens, minlength=vocab).double() / len(tokens)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("k", [1, 3, 6])
def test_greedy_speculative_decoding_is_the_targets_greedy_text(target, k):
    target = TARGETS[target]()
    got = speculative_generate(target, weakened(target), PROMPT, 30, k=k, temperature=0)
    assert torch.equal(got.ids, generate(target, PROMPT, 30, temperature=0))
    assert 0 < got.accepted < got.proposed  # proposals kept and proposals rejected: both branches ran


def test_the_rule_keeps_the_targets_distribution_at_every_position():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 3, 6, generator=generator)
    p = logits.softmax(-1)  # the target at 2 drafted positions and the one after
    q = (logits[:, :2] + 1.5 * torch.randn(1, 2, 6, generator=generator)).softmax(-1)  # a draft, roughly right
    n = 200_000
    drafted = torch.multinomial(q.expand(n, 2, 6).reshape(-1, 6), 1, generator=generator).view(n, 2)
    n_accepted, next_token = verify(p.expand(n, 3, 6), q.expand(n, 2, 6), drafted, generator)
    first = torch.where(n_accepted >= 1, drafted[:, 0], next_token)
    kept = n_accepted >= 1  # given the first proposal was kept, the second token is p's at position 2
    second = torch.where(n_accepted[kept] >= 2, drafted[kept, 1], next_token[kept])
    # 200,000 draws of 6 tokens: the total variation of a correct rule is about 0.002
    assert total_variation(frequencies(first, 6), p[0, 0]) < 0.006
    assert total_variation(frequencies(second, 6), p[0, 1]) < 0.01
    # ...and a wrong rule fails that bound by far: accepting every proposal gives q, this far from p
    assert total_variation(q[0, 0], p[0, 0]) > 0.2 and total_variation(q[0, 1], p[0, 1]) > 0.2
    assert 0.2 < kept.double().mean() < 0.9  # both branches taken often


def test_sampled_speculative_decoding_draws_the_first_token_from_the_target():
    small = dict(vocab_size=6, context=8, n_head=2)
    target = lively(GPT(GPTConfig(**small, n_layer=2, d_model=32), seed=1), 30)
    draft = lively(GPT(GPTConfig(**small, n_layer=1, d_model=16), seed=2), 30)
    prompt, settings = torch.tensor([[1, 2]]), dict(temperature=0.8, top_k=4)
    with torch.no_grad():
        p = next_token_probs(target(prompt)[:, -1], **settings)[0]
        q = next_token_probs(draft(prompt)[:, -1], **settings)[0]
    firsts = torch.stack([speculative_generate(target, draft, prompt, 2, k=1, generator=torch.Generator().manual_seed(s),
                                               **settings).ids[0, 2] for s in range(1000)])
    # 1,000 draws of 6 tokens: a correct rule's total variation is about 0.03; the draft's own
    # distribution, which a rule accepting everything would give, is more than 0.25 away
    assert total_variation(frequencies(firsts, 6), p) < 0.07
    assert total_variation(q, p) > 0.25


def test_both_caches_hold_every_token_of_the_text_and_a_perfect_draft_is_always_accepted():
    target, draft = TARGETS["gpt"](), TARGETS["gpt"]()  # the draft: the target itself
    written = {target: {}, draft: {}}  # position -> the token last written there, per model

    def record(model, args, kwargs, output):
        for i, token in enumerate(args[0][0].tolist()):
            written[model][kwargs.get("start", 0) + i] = token

    for model in written:
        model.register_forward_hook(record, with_kwargs=True)
    got = speculative_generate(target, draft, PROMPT, 25, k=4, temperature=0)
    text = got.ids[0].tolist()
    # every position but the last holds its token of the text in both caches (rejected proposals
    # were overwritten, and the last proposal of a round is cached too)
    for model in written:
        assert all(written[model].get(p) == text[p] for p in range(len(text) - 1))
    # greedy, the draft's argmax is the target's everywhere: every proposal is kept
    assert got.proposed >= 20 and got.acceptance_rate == 1.0
    sampled = speculative_generate(target, draft, PROMPT, 25, k=4, generator=torch.Generator().manual_seed(0))
    assert sampled.ids.shape == (1, 28) and sampled.acceptance_rate > 0.95  # p = q up to rounding: min(1, p/q) = 1
    # and another architecture, of the same vocabulary, drafts for it
    other = lively(Llama(LlamaConfig(**SMALL, hidden_dim=32), seed=3), 2)
    assert speculative_generate(target, other, PROMPT, 25, generator=torch.Generator().manual_seed(0)).ids.shape == (1, 28)


def test_bad_input_raises_errors_that_name_the_value_and_the_fix():
    target = TARGETS["gpt"]()
    other_vocabulary = GPT(GPTConfig(**dict(SMALL, vocab_size=21)))
    with pytest.raises(ValueError, match="the draft model's vocabulary has 21 tokens and the target's 20: "
                                         "the draft must propose token ids the target reads"):
        speculative_generate(target, other_vocabulary, PROMPT, 5)
    with pytest.raises(ValueError, match="make 41 tokens, past the context of 40 .* ask for at most 40 in all"):
        speculative_generate(target, target, PROMPT, 38)
    with pytest.raises(ValueError, match="k=0 .* propose k >= 1 tokens a round"):
        speculative_generate(target, target, PROMPT, 5, k=0)
    with pytest.raises(ValueError, match=r"top_p=2 is outside \(0, 1\]"):
        speculative_generate(target, target, PROMPT, 5, top_p=2)
