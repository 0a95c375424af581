"""babygpt.generate: decoding strategies equal to transformers' logits processors, and one engine
for every model whose KV cache, batching and sliding window change no token; its command line."""

import pytest
import torch
from transformers.generation.logits_process import (
    LogitsProcessorList, MinPLogitsWarper, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
    TopKLogitsWarper, TopPLogitsWarper,
)

from babygpt.checkpoint import save_model
from babygpt.generate import (
    apply_repetition_penalty, apply_temperature, generate, main, min_p_filter, next_token_probs, sample_next,
    stream, top_k_filter, top_p_filter,
)
from babygpt.llama import Llama, LlamaConfig
from babygpt.microgpt_arch import MicroGPT, MicroGPTConfig
from babygpt.model import GPT, GPTConfig

VOCAB, CONTEXT = 20, 12


def lively(model, scale: float):
    """The model with its blocks' matrices scaled up, so that its greedy text is not one token
    repeated (a freshly initialised model's is) and a wrong position or mask changes it."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 2 and name.startswith(("blocks.", "layers.")):
                p.mul_(scale)
    return model.eval()


SHAPE = dict(vocab_size=VOCAB, context=CONTEXT, n_layer=2)
MODELS = {  # every model babygpt generates with: learned positions, RoPE, sinusoids; each block style
    "gpt": lambda: lively(GPT(GPTConfig(**SHAPE, n_head=2, d_model=32), seed=1), 30),
    "llama": lambda: lively(Llama(LlamaConfig(**SHAPE, n_head=4, n_kv_head=2, d_model=32, hidden_dim=64), seed=1), 2),
    "llama-learned-positions": lambda: lively(Llama(LlamaConfig(
        **SHAPE, n_head=4, d_model=32, hidden_dim=64, rope=False, learned_positions=True, bias=True), seed=2), 1),
    "microgpt": lambda: lively(MicroGPT(MicroGPTConfig(**SHAPE, n_head=2, d_model=32), seed=0), 100),
    "microgpt-seed": lambda: lively(MicroGPT(MicroGPTConfig(
        **SHAPE, n_head=2, d_model=32, block="seed", final_norm=False, ln_eps_inside_sqrt=False), seed=2), 100),
    "microgpt-seed-normed-residual": lambda: lively(MicroGPT(MicroGPTConfig(
        **SHAPE, n_head=2, d_model=32, block="seed_normed_residual", final_norm=False, ln_eps_inside_sqrt=False),
        seed=2), 100),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request):
    return MODELS[request.param]()


# ---- the strategies against transformers' logits processors ---------------------------------------

LOGITS = 3 * torch.randn(6, 50, generator=torch.Generator().manual_seed(0))
IDS = torch.randint(0, 50, (6, 9), generator=torch.Generator().manual_seed(1))
SEEN = torch.zeros(6, 50, dtype=torch.bool).scatter(1, IDS, True)

PROCESSORS = {
    "temperature 0.7": (lambda x: apply_temperature(x, 0.7), TemperatureLogitsWarper(0.7)),
    "temperature 1.5": (lambda x: apply_temperature(x, 1.5), TemperatureLogitsWarper(1.5)),
    "top-k 1": (lambda x: top_k_filter(x, 1), TopKLogitsWarper(1)),
    "top-k 7": (lambda x: top_k_filter(x, 7), TopKLogitsWarper(7)),
    "top-k above the vocabulary": (lambda x: top_k_filter(x, 80), TopKLogitsWarper(80)),
    "top-p 0.05": (lambda x: top_p_filter(x, 0.05), TopPLogitsWarper(0.05)),
    "top-p 0.5": (lambda x: top_p_filter(x, 0.5), TopPLogitsWarper(0.5)),
    "top-p 0.9": (lambda x: top_p_filter(x, 0.9), TopPLogitsWarper(0.9)),
    "min-p 0.05": (lambda x: min_p_filter(x, 0.05), MinPLogitsWarper(0.05)),
    "min-p 0.3": (lambda x: min_p_filter(x, 0.3), MinPLogitsWarper(0.3)),
    "repetition penalty 1.3": (lambda x: apply_repetition_penalty(x, SEEN, 1.3), RepetitionPenaltyLogitsProcessor(1.3)),
    "repetition reward 0.7": (lambda x: apply_repetition_penalty(x, SEEN, 0.7), RepetitionPenaltyLogitsProcessor(0.7)),
}


@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_each_strategy_equals_the_transformers_processor(name):
    ours, theirs = PROCESSORS[name]
    expected = theirs(IDS, LOGITS.clone())
    torch.testing.assert_close(ours(LOGITS.clone()), expected, atol=0, rtol=0)  # -inf where a token is dropped
    assert not torch.equal(expected, LOGITS) or name == "top-k above the vocabulary"  # each case does something


def test_the_strategies_together_equal_transformers_pipeline():
    pipeline = LogitsProcessorList([RepetitionPenaltyLogitsProcessor(1.2), TemperatureLogitsWarper(0.8),
                                    TopKLogitsWarper(20), TopPLogitsWarper(0.9), MinPLogitsWarper(0.05)])
    expected = pipeline(IDS, LOGITS.clone()).softmax(dim=-1)
    ours = next_token_probs(apply_repetition_penalty(LOGITS, SEEN, 1.2), 0.8, top_k=20, top_p=0.9, min_p=0.05)
    torch.testing.assert_close(ours, expected, atol=1e-7, rtol=0)
    assert ((ours > 0).sum(-1) < 20).all()  # top-p and min-p cut below top-k's 20


def test_draws_follow_the_processed_distribution():
    logits = LOGITS[:1].expand(20_000, 50)
    probs = next_token_probs(logits[:1], 1.3, top_p=0.8, min_p=0.02)[0].double()
    tokens = sample_next(logits, 1.3, None, torch.Generator().manual_seed(0), top_p=0.8, min_p=0.02)[:, 0]
    freq = torch.bincount(tokens, minlength=50).double() / len(tokens)
    # 20,000 draws: 4 standard deviations of a frequency is at most 4 * sqrt(0.25 / 20000) = 0.014
    torch.testing.assert_close(freq, probs, atol=0.014, rtol=0)
    assert set(tokens.tolist()) == set(probs.nonzero().flatten().tolist())  # nothing outside the nucleus


# ---- the engine -------------------------------------------------------------------------------------

PROMPT = torch.tensor([[1, 2, 3], [4, 5, 6]])


def test_greedy_with_the_cache_equals_greedy_without_it_past_the_context(model):
    # 30 new tokens after 3 with a context of 12: the window slides three times, both paths alike
    cached = generate(model, PROMPT, 30, temperature=0)
    plain = generate(model, PROMPT, 30, temperature=0, use_cache=False)
    assert cached.shape == (2, 33) and torch.equal(cached[:, :3], PROMPT)
    assert torch.equal(cached, plain)
    new = cached[:, 3:]
    assert len(new.unique()) >= 4 and (new.diff(dim=1) != 0).sum() >= 10  # a real sequence, not one token
    # the first token is the model's own argmax, whatever the window does later
    assert torch.equal(cached[:, 3], model(PROMPT)[:, -1].argmax(-1))


def test_sampling_with_the_cache_equals_sampling_without_it(model):
    settings = dict(temperature=1.0, top_k=10, top_p=0.95, repetition_penalty=1.2)
    cached = generate(model, PROMPT, 20, generator=torch.Generator().manual_seed(3), **settings)
    plain = generate(model, PROMPT, 20, generator=torch.Generator().manual_seed(3), use_cache=False, **settings)
    assert torch.equal(cached, plain)


def test_prompts_of_different_lengths_give_the_tokens_each_gives_alone(model):
    # lengths 5, 1, 12 (a full window, which slides at once) and 8: each row slides at its own step
    prompts = [torch.arange(5), torch.tensor([7]), torch.arange(12) % VOCAB, torch.arange(8, 16)]
    for use_cache in (True, False):
        together = generate(model, prompts, 14, temperature=0, use_cache=use_cache)
        for prompt, row in zip(prompts, together):
            alone = generate(model, prompt[None], 14, temperature=0, use_cache=use_cache)[0]
            assert torch.equal(row, alone), (len(prompt), use_cache)


def test_cached_logits_equal_a_full_pass_at_each_rows_own_position(model):
    ids = torch.randint(0, VOCAB, (3, CONTEXT), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(ids)
        caches = model.new_kv_caches(3)
        model(ids[:, :9], caches=caches)  # every row's cache holds positions 0..8
        # one new token per row at positions 2, 5 and 9: the cached positions after it are hidden
        start = torch.tensor([2, 5, 9])
        step = model(ids[torch.arange(3), start][:, None], start=start, caches=caches)[:, 0]
    # float32 agreement, relative to the logits' scale (the seed's blocks, scaled up, reach 1e6)
    torch.testing.assert_close(step, full[torch.arange(3), start], atol=1e-5 * full.abs().max().item(), rtol=0)


def test_a_cache_filled_chunk_by_chunk_at_int_starts_gives_the_full_pass(model):
    # start as a plain int, the way chapter 8 calls the model: chunks of 5, 4 and 3 positions
    ids = torch.randint(0, VOCAB, (2, CONTEXT), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(ids)
        caches = model.new_kv_caches(2)
        chunks = [model(ids[:, a:b], start=a, caches=caches) for a, b in [(0, 5), (5, 9), (9, CONTEXT)]]
    torch.testing.assert_close(torch.cat(chunks, dim=1), full, atol=1e-5 * full.abs().max().item(), rtol=0)


def test_stream_yields_each_token_as_it_is_produced():
    model = MODELS["gpt"]()
    calls = []
    model.register_forward_hook(lambda module, args, output: calls.append(args[0].shape))
    tokens = stream(model, PROMPT, 5, temperature=0)
    assert calls == []  # nothing runs before the first token is asked for
    first = next(tokens)
    assert first.shape == (2,) and calls == [(2, 2), (2, 1)]  # the prefill, then one decode step
    rest = list(tokens)
    assert len(calls) == 6 and all(shape == (2, 1) for shape in calls[1:])  # one position per token
    assert torch.equal(torch.stack([first, *rest], dim=1), generate(model, PROMPT, 5, temperature=0)[:, 3:])


def test_generation_is_reproducible_and_greedy_at_temperature_zero():
    model = MODELS["llama"]()
    seeded = [generate(model, PROMPT, 12, generator=torch.Generator().manual_seed(s)) for s in (0, 0, 1)]
    assert torch.equal(seeded[0], seeded[1]) and not torch.equal(seeded[0], seeded[2])
    greedy = [generate(model, PROMPT, 12, temperature=0, generator=torch.Generator().manual_seed(s)) for s in (0, 1)]
    assert torch.equal(greedy[0], greedy[1])  # no draw at temperature 0: the generator is not used
    assert torch.equal(generate(model, PROMPT, 12, top_k=1, generator=torch.Generator().manual_seed(0)), greedy[0])
    assert torch.equal(model.generate(PROMPT, 12, temperature=0), greedy[0])  # the model's method is the engine


def test_a_preallocated_cache_is_used_and_one_too_small_is_refused():
    model = MODELS["gpt"]()
    caches = model.new_kv_caches(2, 7)  # 3 prompt tokens + 5 new need positions 0..6
    assert torch.equal(generate(model, PROMPT, 5, temperature=0, caches=caches),
                       generate(model, PROMPT, 5, temperature=0))
    assert caches[0].keys.abs().sum() > 0
    with pytest.raises(ValueError, match=r"holds 2 rows of 7 positions, but this generation needs 2 rows of 8: "
                                         r"allocate it with model.new_kv_caches\(2, 8\)"):
        generate(model, PROMPT, 6, caches=caches)


def test_bad_input_raises_errors_that_name_the_value_the_limit_and_the_fix():
    model = MODELS["gpt"]()
    errors = {
        "temperature=-0.5 is negative, which turns the distribution upside down": dict(temperature=-0.5),
        r"top_k=0 keeps no token: use top_k >= 1": dict(top_k=0),
        r"top_p=0 is outside \(0, 1\]": dict(top_p=0),
        r"top_p=1.5 is outside \(0, 1\]": dict(top_p=1.5),
        r"min_p=1.0 is outside \[0, 1\)": dict(min_p=1.0),
        r"min_p=-0.1 is outside \[0, 1\)": dict(min_p=-0.1),
        r"repetition_penalty=0 must be above 0: 1 is no penalty": dict(repetition_penalty=0),
    }
    for message, settings in errors.items():
        with pytest.raises(ValueError, match=message):
            generate(model, PROMPT, 3, **settings)
    with pytest.raises(ValueError, match="max_new_tokens=-1 is negative: ask for 0 or more new tokens"):
        generate(model, PROMPT, -1)
    long_prompt = torch.zeros(1, CONTEXT + 1, dtype=torch.long)
    with pytest.raises(ValueError, match=r"a prompt of 13 tokens does not fit the KV cache of this model's context, "
                                         r"12 positions: crop it to its last 12 tokens, or pass use_cache=False"):
        generate(model, long_prompt, 3)
    assert generate(model, long_prompt, 3, use_cache=False).shape == (1, 16)  # cropped, as the message says
    with pytest.raises(ValueError, match="a prompt is empty"):
        generate(model, [[1, 2], []], 3)
    with pytest.raises(ValueError, match=r"token id 20 is outside the vocabulary \[0, 20\)"):
        generate(model, [[1, 20]], 3)
    assert torch.equal(generate(model, PROMPT, 0), PROMPT)  # none asked, none given


def test_the_command_line_streams_a_sample_from_a_checkpoint(tmp_path, capsys):
    chars = "\n abcdefghijklmnopqr"  # 20 characters, the test models' vocabulary
    model = MODELS["microgpt"]()
    save_model(tmp_path, model, extra_config={"tokenizer": {"type": "char", "chars": chars}})
    main(["--checkpoint", str(tmp_path), "--prompt", "ab", "--max-new-tokens", "15", "--seed", "4", "--top-k", "5"])
    printed = capsys.readouterr().out
    prompt = torch.tensor([[chars.index("a"), chars.index("b")]])
    expected = generate(model, prompt, 15, temperature=0.8, top_k=5, generator=torch.Generator().manual_seed(4))
    assert printed == "ab" + "".join(chars[i] for i in expected[0, 2:]) + "\n"


def test_the_command_line_refuses_a_checkpoint_without_a_tokenizer(tmp_path, capsys):
    save_model(tmp_path, MODELS["gpt"]())
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(tmp_path)])
    assert "has no tokenizer in its config.json: sample from a checkpoint written by a trainer" in capsys.readouterr().err
