"""Chapter 13's models: batches that score the completion only, training that learns, greedy
answers that are read and scored, the exercise checks, and what RoPE costs."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from babygpt.cot.batches import IGNORE, TOKENIZER, example_tensors, prompt_ids
from babygpt.cot.evaluation import accuracy_by_digits, longest_completion, needed_context, written_completions
from babygpt.cot.training import completion_loss, train_on_examples
from babygpt.kv_cache import new_kv_caches
from babygpt.exercises import check_scratchpad_completion, check_wilson_halfwidth
from babygpt.llama import Llama, LlamaConfig, apply_rope, build_rope_cache
from babygpt.model import GPT, GPTConfig
from babygpt.train import TrainConfig
from lmbase import addition
from lmbase.addition import FORMATS, Problem, completion, prompt, text
from lmbase.flops import rope_flops_per_token


class ElementwiseFlops(TorchDispatchMode):
    """Counts one FLOP per output element of every multiply, add and subtract it sees."""
    flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket in (torch.ops.aten.mul, torch.ops.aten.add, torch.ops.aten.sub):
            self.flops += out.numel()
        return out


def tiny_gpt(context=40):
    return GPT(GPTConfig(vocab_size=TOKENIZER.vocab_size, context=context, n_layer=2, n_head=2, d_model=32), seed=0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_targets_are_the_completion_only_and_inputs_the_example_shifted(fmt):
    problems = [Problem(45, 27, 2), Problem(5, 4, 1), Problem(999, 1, 3)]
    inputs, targets = example_tensors(problems, fmt)
    assert inputs.shape == targets.shape == (3, max(len(text(p, fmt)) for p in problems) - 1)
    for row, p in enumerate(problems):
        full = TOKENIZER.encode(text(p, fmt))
        assert inputs[row, :len(full) - 1].tolist() == full[:-1].tolist()
        scored = targets[row][targets[row] != IGNORE]
        assert TOKENIZER.decode(scored.numpy()) == completion(p, fmt)
        first = len(prompt(p, fmt)) - 1  # the input "=" predicts the first written character
        assert targets[row, first].item() == TOKENIZER.id_of[completion(p, fmt)[0]]
        assert (targets[row, :first] == IGNORE).all()
    assert [TOKENIZER.decode(ids.numpy()) for ids in prompt_ids(problems, fmt)] == [prompt(p, fmt) for p in problems]


def test_the_loss_ignores_the_prompt():
    model = tiny_gpt()
    inputs, targets = example_tensors([Problem(45, 27, 2)], "scratchpad")
    changed = inputs.clone()
    changed[0, 0] = TOKENIZER.id_of["9"]  # a prompt target changes, the completion's do not
    other_targets = targets.clone()
    other_targets[0, 0] = TOKENIZER.id_of["9"]
    loss = completion_loss(model, inputs, targets)
    assert completion_loss(model, inputs, other_targets) != loss  # an unmasked target counts
    assert torch.isclose(loss, completion_loss(model, inputs, targets.where(targets != IGNORE, IGNORE)))
    with pytest.raises(ValueError, match="no problems"):
        example_tensors([], "plain")


def test_training_learns_one_digit_addition_and_is_deterministic():
    train, test = addition.train_test_split([1], 35, 15, seed=0)
    problems = train[1] + test[1]  # all 50: here the point is that training fits them
    inputs, targets = example_tensors(problems, "reversed")
    config = TrainConfig(steps=300, batch_size=32, lr=3e-3, min_lr=3e-4, warmup_steps=20, seed=0)
    model = tiny_gpt()
    history = train_on_examples(model, inputs, targets, config, progress=False)
    again = tiny_gpt()
    assert train_on_examples(again, inputs, targets, config, progress=False) == history
    assert history[-1]["loss"] < 0.3 * history[0]["loss"]
    assert history[-1]["tokens"] == 300 * 32 * inputs.shape[1]
    correct, total = accuracy_by_digits(model, {1: problems}, "reversed")[1]
    assert total == 50 and correct >= 45
    untrained = accuracy_by_digits(tiny_gpt(), {1: problems}, "reversed")[1][0]
    assert untrained < 10


def test_training_refuses_settings_it_does_not_apply():
    inputs, targets = example_tensors([Problem(1, 2, 1)], "plain")
    for setting in ({"grad_accum": 2}, {"precision": "bf16"}, {"compile": True}):
        with pytest.raises(ValueError, match="fp32, uncompiled, without gradient accumulation"):
            train_on_examples(tiny_gpt(), inputs, targets, TrainConfig(steps=1, **setting), progress=False)
    with pytest.raises(ValueError, match="differ in shape"):
        train_on_examples(tiny_gpt(), inputs, targets[:, :-1], TrainConfig(steps=1), progress=False)


class Scripted(torch.nn.Module):
    """A 'model' that writes a fixed text after any prompt: what written_completions reads."""

    def __init__(self, answer: str, context=40):
        super().__init__()
        self.config = GPTConfig(vocab_size=TOKENIZER.vocab_size, context=context, n_layer=1, n_head=1, d_model=2)
        self.answer = torch.from_numpy(TOKENIZER.encode(answer))
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.prompt_length = None

    def forward(self, ids, start=0, caches=None, validate=True):
        batch, seq = ids.shape
        positions = torch.arange(seq)[None] + (start if isinstance(start, int) else start[:, None])
        written = (positions - self.prompt_length + 1).clamp(0, len(self.answer) - 1)
        return torch.nn.functional.one_hot(self.answer[written], TOKENIZER.vocab_size).float()

    def new_kv_caches(self, batch, length=None):
        return new_kv_caches(1, batch, 1, length or self.config.context, 2, self.anchor)


def test_answers_are_cut_at_the_end_and_a_malformed_one_counts_as_wrong():
    problems = [Problem(45, 27, 2)]
    for answer, expected_right in [("72.999", 1), ("27.", 0), ("7777777", 0)]:
        model = Scripted(answer)
        model.prompt_length = len(prompt(problems[0], "plain"))
        written = written_completions(model, problems, "plain")
        assert len(written[0]) <= longest_completion(problems, "plain") + 1
        assert written[0] == (answer[:answer.index(".") + 1] if "." in answer else written[0])
        assert addition.exact_match(problems, written, "plain") == [bool(expected_right)]
    assert needed_context(problems, "scratchpad") == len(text(problems[0], "scratchpad"))


def test_the_exercise_checks_pass_the_right_answers_and_catch_wrong_ones():
    def right_completion(a, b, n):
        return completion(Problem(a, b, n), "scratchpad_reversed")

    check_scratchpad_completion(right_completion)
    with pytest.raises(AssertionError, match="units first"):
        check_scratchpad_completion(lambda a, b, n: completion(Problem(a, b, n), "scratchpad"))

    def right_count(accuracy, half_width):
        m = 1
        while True:
            low, high = addition.wilson_interval(accuracy * m, m)
            if high - low <= 2 * half_width:
                return m
            m += 1

    check_wilson_halfwidth(right_count)
    with pytest.raises(AssertionError, match="not the fewest"):
        check_wilson_halfwidth(lambda acc, hw: right_count(acc, hw) + 1)
    with pytest.raises(AssertionError, match="you need more"):
        check_wilson_halfwidth(lambda acc, hw: right_count(acc, hw) - 1)


def test_a_llama_without_rope_counts_the_same_matrix_flops():
    from babygpt.flops import counted_flops

    def llama(rope):
        config = LlamaConfig(vocab_size=18, context=16, n_layer=2, n_head=2, d_model=32, hidden_dim=64, rope=rope)
        return Llama(config)

    assert counted_flops(llama(True), 1, 16)["total"] == counted_flops(llama(False), 1, 16)["total"]


def test_rope_flops_count_the_multiplies_and_adds_that_apply_rope_performs():
    heads, seq, head_dim = 4, 10, 16
    x = torch.randn(1, heads, seq, head_dim)
    cache = build_rope_cache(seq, head_dim)
    with ElementwiseFlops() as counter:
        apply_rope(x, cache)
    # one layer, queries only: half of the per-token count of a query and a key of d = heads x head_dim
    assert counter.flops == seq * rope_flops_per_token(1, heads * head_dim) / 2


def test_the_comparison_s_models_match_in_size_and_its_problem_sets_are_disjoint():
    from babygpt.cot.comparison import FAST, Sizes, addition_model, context_for, problem_sets

    sizes = Sizes(train_digits=(1, 2), n_train=30, d_model=32, n_layer=2, steps=1, n_test=30)
    train, test = problem_sets(sizes)
    assert sorted(test) == [1, 2, 3] and sizes.longer == 3 and FAST.longer == 4
    for n in (1, 2):
        assert len(train[n]) == 30 and len(test[n]) == 30 and not set(train[n]) & set(test[n])
    assert all(p.n_digits == 3 for p in test[3])
    context = context_for(test)
    assert context == needed_context(test[3], "scratchpad_reversed")
    gpt, llama = (addition_model(kind, sizes, context) for kind in ("gpt", "llama"))
    assert isinstance(gpt, GPT) and isinstance(llama, Llama) and gpt.config.context == context
    assert abs(llama.num_parameters() / gpt.num_parameters() - 1) < 0.05
    with pytest.raises(ValueError, match="kind='mamba'.*'gpt', 'llama'"):
        addition_model("mamba", sizes, context)


def test_equal_flops_steps_scale_with_the_row_lengths():
    from babygpt.cot.comparison import FAST, equal_flops_steps, training_flops

    long_run, short_run = {"seq": 40, "steps": 100}, {"seq": 10, "steps": 7}
    assert training_flops({**long_run, "steps": 2}, FAST) == 2 * training_flops({**long_run, "steps": 1}, FAST)
    steps = equal_flops_steps(long_run, short_run, FAST)
    assert steps > 4 * 100  # attention makes a longer row cost more than its length says
    assert abs(training_flops({**short_run, "steps": steps}, FAST) / training_flops(long_run, FAST) - 1) < 0.01


def test_rope_flops_count_grouped_query_attentions_narrower_keys():
    n_head, n_kv_head, seq, head_dim = 8, 2, 10, 16
    cache = build_rope_cache(seq, head_dim)
    with ElementwiseFlops() as counter:
        apply_rope(torch.randn(1, n_head, seq, head_dim), cache)  # the queries
        apply_rope(torch.randn(1, n_kv_head, seq, head_dim), cache)  # the fewer keys
    assert counter.flops == seq * rope_flops_per_token(1, n_head * head_dim, n_kv_head * head_dim)


def test_training_flops_are_6n_plus_attention_per_trained_position():
    from babygpt.cot.comparison import FAST, training_flops
    from lmbase.flops import training_flops_per_token

    run = {"seq": 40, "steps": 3}
    d, layers = FAST.d_model, FAST.n_layer
    matrix_params = 12 * layers * d * d + d * TOKENIZER.vocab_size  # attention, MLP (4d) and head
    per_token = training_flops_per_token(matrix_params, layers, d, run["seq"])
    positions = run["seq"] * FAST.batch_size * run["steps"]
    assert training_flops(run, FAST) == pytest.approx(per_token * positions, rel=1e-12)
