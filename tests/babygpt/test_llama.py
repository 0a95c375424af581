"""babygpt.llama: configurations, RMSNorm, RoPE, grouped-query attention, the KV cache, and parity
with Hugging Face transformers' LlamaForCausalLM built from the same small configuration."""

import os

import pytest
import torch
import torch.nn.functional as F

from babygpt.llama import Llama, LlamaConfig, RMSNorm, apply_rope, build_rope_cache, swiglu_hidden_dim

os.environ["HF_HUB_OFFLINE"] = "1"


def tiny(**overrides) -> LlamaConfig:
    return LlamaConfig.named("tiny", **overrides)


@pytest.mark.parametrize("name, published", [
    ("llama-7b", 6_738_415_616),     # Hugging Face's count of meta-llama/Llama-2-7b (and LLaMA 1 7B)
    ("llama2-13b", 13_015_864_320),
    ("llama-65b", 65_285_660_672),
    ("llama2-70b", 68_976_648_192),   # GQA: 8 key/value heads
    ("babygpt-llama-trainer-seed", 3_222_381),  # the seed's printed "number of parameters: 3222381"
])
def test_named_configurations_have_the_published_parameter_counts(name, published):
    with torch.device("meta"):
        model = Llama(LlamaConfig.named(name))
    assert model.num_parameters() == published


def test_meta_swiglu_hidden_sizes():
    assert swiglu_hidden_dim(4096) == 11008 and swiglu_hidden_dim(5120) == 13824
    assert swiglu_hidden_dim(8192, 4096, 1.3) == 28672 and swiglu_hidden_dim(288, 32) == 768


def test_the_seed_trainer_difference_is_positions_and_biases():
    ours, seed = (Llama(LlamaConfig.named(n)).num_parameters()
                  for n in ("babygpt-llama-trainer", "babygpt-llama-trainer-seed"))
    positions, qkvo_bias, head_bias = 64 * 256, 4 * (3 * 256 + 256), 109
    assert seed - ours == positions + qkvo_bias + head_bias == 20_589


def test_bad_head_counts_raise_clear_errors():
    with pytest.raises(ValueError, match="n_kv_head=3"):
        tiny(n_kv_head=3)
    with pytest.raises(ValueError, match="d_model=64 is not divisible by n_head=3"):
        tiny(n_head=3, n_kv_head=1)


def test_rmsnorm_equals_torch_rms_norm():
    x = torch.randn(3, 5, 16)
    norm = RMSNorm(16, eps=1e-5)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(16))
    expected = F.rms_norm(x.double(), (16,), norm.weight.double(), eps=1e-5)
    torch.testing.assert_close(norm(x).double(), expected, atol=1e-6, rtol=1e-6)


def test_rope_equals_the_complex_number_formulation():
    # Meta's llama: pairs (2i, 2i+1) as complex numbers, multiplied by e^{i·m·θ_i}.
    head_dim, seq, theta = 16, 12, 10000.0
    x = torch.randn(2, 3, seq, head_dim, dtype=torch.float64)
    freqs = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(seq).double(), freqs)
    rotations = torch.polar(torch.ones_like(angles), angles)
    expected = torch.view_as_real(torch.view_as_complex(x.reshape(2, 3, seq, -1, 2)) * rotations).flatten(-2)
    cache = build_rope_cache(seq + 5, head_dim, theta)
    torch.testing.assert_close(apply_rope(x.float(), cache).double(), expected, atol=1e-5, rtol=1e-5)
    # An offset start is the same rotation as those positions of a longer sequence.
    offset = apply_rope(x[:, :, 4:].float(), cache, start=4).double()
    torch.testing.assert_close(offset, expected[:, :, 4:], atol=1e-5, rtol=1e-5)


def test_rope_scores_depend_only_on_the_relative_position():
    cache = build_rope_cache(64, 8)
    q, k = torch.randn(8), torch.randn(8)
    def score(m, n):
        qm = apply_rope(q.view(1, 1, 1, 8).expand(1, 1, 64, 8).contiguous(), cache)[0, 0, m]
        kn = apply_rope(k.view(1, 1, 1, 8).expand(1, 1, 64, 8).contiguous(), cache)[0, 0, n]
        return (qm @ kn).item()
    assert score(10, 7) == pytest.approx(score(40, 37), abs=1e-5)
    assert score(10, 7) != pytest.approx(score(10, 2), abs=1e-3)


def test_a_sequence_past_the_rope_cache_raises():
    with pytest.raises(ValueError, match="past the RoPE cache of 8 positions"):
        apply_rope(torch.randn(1, 1, 6, 4), build_rope_cache(8, 4), start=3)
    model = Llama(tiny())
    with pytest.raises(ValueError, match="context of 64"):
        model(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(ValueError, match="token id 65"):
        model(torch.full((1, 3), 65))


def test_grouped_query_attention_equals_full_attention_with_repeated_heads():
    gqa = Llama(tiny(n_kv_head=2), seed=3)
    full = Llama(tiny(n_kv_head=4), seed=4)
    state = gqa.state_dict()
    for name, value in list(state.items()):
        if name.endswith(("attention.wk.weight", "attention.wv.weight")):
            # key/value head j of the GQA model serves query heads 2j and 2j+1
            state[name] = value.view(2, 16, 64).repeat_interleave(2, dim=0).reshape(64, 64)
    full.load_state_dict(state)
    ids = torch.randint(0, 65, (2, 30))
    torch.testing.assert_close(full(ids), gqa(ids), atol=1e-5, rtol=1e-5)
    assert gqa.layers[0].attention.wk.weight.shape == (32, 64)


def hf_twin(model: Llama):
    import transformers
    from babygpt.llama_checkpoints import hf_config, hf_state_dict
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**hf_config(model.config))).eval()
    state = {k: torch.from_numpy(v) for k, v in hf_state_dict(model).items()}
    result = hf.load_state_dict(state, strict=False)
    assert not result.unexpected_keys and set(result.missing_keys) <= {"lm_head.weight"}
    return hf


@pytest.mark.parametrize("overrides", [{}, {"tie_embeddings": True, "rope_theta": 500.0, "n_kv_head": 1}])
def test_logits_equal_hugging_face_llama(overrides):
    model = Llama(tiny(**overrides), seed=1).eval()
    with torch.no_grad():  # larger weights than the initialisation, so that every part matters
        for p in model.parameters():
            if p.ndim == 2:
                p.mul_(5.0)
    hf = hf_twin(model)
    ids = torch.randint(0, 65, (2, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = model(ids), hf(ids).logits
    assert ours.std() > 0.1
    torch.testing.assert_close(ours, theirs, atol=2e-5, rtol=1e-5)


def test_cached_forward_equals_the_full_forward():
    model = Llama(tiny(), seed=2).eval()
    ids = torch.randint(0, 65, (3, 40))
    with torch.no_grad():
        full = model(ids)
        caches = model.new_kv_caches(3)
        pieces = [model(ids[:, :25], start=0, caches=caches)]
        pieces += [model(ids[:, t:t + 1], start=t, caches=caches) for t in range(25, 40)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


def test_generation_with_the_cache_equals_generation_without_it():
    model = Llama(tiny(), seed=5).eval()
    prompt = torch.randint(0, 65, (2, 7))
    greedy = [model.generate(prompt, 40, temperature=0, use_cache=c) for c in (True, False)]
    assert torch.equal(greedy[0], greedy[1])
    sampled = [model.generate(prompt, 40, generator=torch.Generator().manual_seed(1), use_cache=c)
               for c in (True, False)]
    assert torch.equal(sampled[0], sampled[1])
    # past the context both paths slide the window the same way (babygpt.generate)
    past = [model.generate(prompt, 60, temperature=0, use_cache=c) for c in (True, False)]
    assert past[0].shape == (2, 67) and torch.equal(past[0], past[1])



def test_sampling_settings_and_ids_that_would_do_something_else_are_refused():
    from babygpt.llama import sample_next

    model = Llama(tiny()).eval()
    logits = torch.log(torch.tensor([[0.98, 0.01, 0.01]]))
    with pytest.raises(ValueError, match="temperature=-1.0 is negative"):
        sample_next(logits, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k=0 keeps no token"):
        sample_next(logits, top_k=0)
    with pytest.raises(ValueError, match="max_new_tokens=-2 is negative"):
        model.generate(torch.zeros(1, 2, dtype=torch.long), -2)
    with pytest.raises(ValueError, match=r"token ids must have shape \(batch, seq\), got shape \(4,\)"):
        model(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"got shape \(4,\)"):
        model.generate(torch.zeros(4, dtype=torch.long), 2)


def test_sample_next_top_k_keeps_exactly_k_tokens_and_their_proportions():
    from babygpt.llama import sample_next

    probs = torch.tensor([0.1, 0.4, 0.2, 0.3])
    logits = probs.log().expand(20_000, 4)
    tokens = sample_next(logits, top_k=2, generator=torch.Generator().manual_seed(0))[:, 0]
    freq = torch.bincount(tokens, minlength=4).double() / len(tokens)
    # the 2 likeliest (ids 1 and 3) renormalised: 4/7 and 3/7 (20,000 draws: 4 standard deviations is 0.014)
    torch.testing.assert_close(freq, torch.tensor([0.0, 4 / 7, 0.0, 3 / 7], dtype=torch.float64), atol=0.014, rtol=0)
    plain = sample_next(logits, generator=torch.Generator().manual_seed(0))[:, 0]
    torch.testing.assert_close(torch.bincount(plain, minlength=4).double() / len(plain), probs.double(), atol=0.014,
                               rtol=0)
    # temperature 0.5 squares the probabilities before renormalising
    sharp = sample_next(logits, temperature=0.5, generator=torch.Generator().manual_seed(0))[:, 0]
    torch.testing.assert_close(torch.bincount(sharp, minlength=4).double() / len(sharp),
                               (probs.double() ** 2) / (probs.double() ** 2).sum(), atol=0.014, rtol=0)
