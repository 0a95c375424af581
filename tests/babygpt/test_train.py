"""babygpt.train: schedule, weight-decay groups, accumulation, mixed precision, exact resume."""

import math

import numpy as np
import pytest
import torch

from babygpt.model import GPT, GPTConfig, cross_entropy
from babygpt.train import EVAL_STEP, Trainer, TrainConfig, learning_rate, main, make_optimizer
from lmbase.batches import BatchSampler
from lmbase.resume import ResumeError

# A short stretch of real text is enough for these tests; the tiny model trains in milliseconds a step.
CONFIG = GPTConfig.named("tiny", context=32, d_model=32, n_layer=2, n_head=2)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    # A Markov chain with a few likely successors per token: learnable, and no file needed.
    successors = rng.integers(0, 65, size=(65, 3))
    ids = [0]
    for _ in range(20_000):
        ids.append(int(successors[ids[-1], rng.integers(0, 3)]))
    ids = np.array(ids, dtype=np.int64)
    return ids[:18_000], ids[18_000:]


def train_config(**overrides):
    base = dict(steps=6, batch_size=8, lr=3e-3, min_lr=3e-4, warmup_steps=2, eval_every=3, eval_batches=2, seed=0)
    return TrainConfig(**{**base, **overrides})


def test_learning_rate_warms_up_linearly_then_decays_by_cosine_to_min_lr():
    config = TrainConfig(steps=110, lr=1.0, min_lr=0.1, warmup_steps=10)
    assert [learning_rate(s, config) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert learning_rate(60, config) == pytest.approx(0.55)
    assert learning_rate(110, config) == pytest.approx(0.1)
    decay = [learning_rate(s, config) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))


def test_weight_decay_applies_to_matrices_only():
    model = GPT(CONFIG)
    decayed, plain = make_optimizer(model, train_config(weight_decay=0.1)).param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert {id(p) for p in decayed["params"]} == {id(p) for p in model.parameters() if p.ndim == 2}
    assert all(p.ndim == 1 for p in plain["params"]) and len(plain["params"]) > 0


def test_the_batch_of_a_step_is_a_function_of_the_step(data, monkeypatch):
    train_ids, _ = data
    trainer = Trainer(GPT(CONFIG), *data, train_config(seed=1), device="cpu", progress=False)
    seen = []
    forward = trainer.forward
    monkeypatch.setattr(trainer, "forward", lambda x, **kw: seen.append(x.numpy().copy()) or forward(x, **kw))
    trainer.train(until=2)
    for step, x in enumerate(seen):
        expected, _ = BatchSampler(train_ids, 8, 32, seed=1).at_step(step)
        assert np.array_equal(x, expected), step
    assert not np.array_equal(seen[0], seen[1])


def test_training_lowers_the_loss(data):
    trainer = Trainer(GPT(CONFIG), *data, train_config(steps=40, eval_every=40), device="cpu", progress=False)
    start = trainer.evaluate("val")
    trainer.train()
    assert abs(start - math.log(65)) < 0.1
    assert trainer.history[-1]["val_loss"] < start - 1.0
    assert len(trainer.losses) == 40


def test_resumed_training_equals_uninterrupted_training_exactly(data, tmp_path):
    config = GPTConfig.named("tiny", context=32, d_model=32, n_layer=2, n_head=2, dropout=0.1)
    straight = Trainer(GPT(config), *data, train_config(), device="cpu", progress=False)
    straight.train()
    first = Trainer(GPT(config), *data, train_config(), device="cpu", progress=False)
    first.train(until=3, checkpoint_dir=tmp_path / "ckpt")
    resumed = Trainer.resume(tmp_path / "ckpt", *data, device="cpu", progress=False)
    assert resumed.step == 3
    resumed.train()
    for (name, a), b in zip(straight.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(a, b), name
    assert resumed.losses == straight.losses
    # And a different seed really gives different weights, so the equality above means something.
    other = Trainer(GPT(config), *data, train_config(seed=1), device="cpu", progress=False)
    other.train()
    assert not torch.equal(other.model.tok_emb.weight, straight.model.tok_emb.weight)


def test_training_leaves_torch_global_generator_as_it_found_it(data):
    # A chapter that trains and then builds another model (nn.init draws from the global generator)
    # must get the same weights whether or not it trained in between.
    config = GPTConfig.named("tiny", context=32, d_model=32, n_layer=2, n_head=2, dropout=0.1)
    trainer = Trainer(GPT(config), *data, train_config(steps=3, grad_accum=2), device="cpu", progress=False)
    torch.manual_seed(123)
    expected = torch.rand(8)
    torch.manual_seed(123)
    trainer.train()
    assert torch.equal(torch.rand(8), expected)


def test_validation_loss_does_not_depend_on_grad_accum(data):
    model = GPT(CONFIG, seed=1)
    one, four = (Trainer(model, *data, train_config(grad_accum=n), device="cpu", progress=False).evaluate()
                 for n in (1, 4))
    assert one == pytest.approx(four, abs=1e-6)
    # With grad_accum=1 each evaluation batch is read whole: the mean over the batches of the loss
    # of batch_size windows, as the trainer has always computed it.
    sampler = BatchSampler(data[1], 8, 32, seed=0)
    with torch.no_grad():
        losses = [cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).item()
                  for x, y in (sampler.at_step(EVAL_STEP + i) for i in range(2))]
    assert one == float(np.mean(losses))


def test_gradient_accumulation_equals_one_big_batch(data):
    one = Trainer(GPT(CONFIG), *data, train_config(), device="cpu", progress=False)
    one.train()
    four = Trainer(GPT(CONFIG), *data, train_config(grad_accum=4), device="cpu", progress=False)
    four.train()
    for a, b in zip(one.model.parameters(), four.model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(one.losses, four.losses, rtol=1e-5)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_close_to_float32(data, precision):
    runs = {}
    for p in ("fp32", precision):
        trainer = Trainer(GPT(CONFIG), *data, train_config(steps=20, eval_every=20, precision=p), device="cpu",
                          progress=False)
        trainer.train()
        runs[p] = trainer
    low = runs[precision]
    assert low.model.tok_emb.weight.dtype == torch.float32  # the master weights stay in float32
    assert (low.scaler.is_enabled()) == (precision == "fp16")
    assert abs(low.history[-1]["val_loss"] - runs["fp32"].history[-1]["val_loss"]) < 0.05
    assert low.history[-1]["val_loss"] < math.log(65) - 0.5


def test_bad_settings_raise_clear_errors(data):
    with pytest.raises(ValueError, match="batch_size=10 must divide evenly among 1 processes x 4"):
        Trainer(GPT(CONFIG), *data, train_config(batch_size=10, grad_accum=4), device="cpu")
    with pytest.raises(ValueError, match="precision='fp8'"):
        train_config(precision="fp8")
    with pytest.raises(ValueError, match="token id 70"):
        Trainer(GPT(CONFIG), np.full(100, 70), data[1], train_config(), device="cpu")


def test_a_llama_model_trains_checkpoints_and_resumes_exactly(data, tmp_path):
    from babygpt.llama import Llama, LlamaConfig

    config = LlamaConfig.named("tiny", context=32)
    straight = Trainer(Llama(config), *data, train_config(), device="cpu", progress=False)
    straight.train()
    first = Trainer(Llama(config), *data, train_config(), device="cpu", progress=False)
    first.train(until=3, checkpoint_dir=tmp_path / "ckpt")
    resumed = Trainer.resume(tmp_path / "ckpt", *data, device="cpu", progress=False)
    assert isinstance(resumed.model, Llama) and resumed.step == 3
    resumed.train()
    assert resumed.losses == straight.losses
    for (name, a), b in zip(straight.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(a, b), name


def test_evaluation_runs_without_dropout(data):
    # Dropout changes no weight at initialisation: in eval mode a model with dropout 0.5 and one
    # without give the same loss, and the same loss every time.
    losses = []
    for dropout in (0.5, 0.0):
        model = GPT(GPTConfig.named("tiny", context=32, d_model=32, n_layer=2, n_head=2, dropout=dropout))
        trainer = Trainer(model, *data, train_config(), device="cpu", progress=False)
        losses += [trainer.evaluate("val"), trainer.evaluate("val")]
    assert losses[0] == losses[1] == losses[2] == losses[3]


def test_resume_restores_the_fp16_loss_scale(data, tmp_path):
    first = Trainer(GPT(CONFIG), *data, train_config(precision="fp16"), device="cpu", progress=False)
    first.train(until=2)
    # A long fp16 run has moved its scale away from the initial 2**16 (backed off on overflows); stand in for that.
    first.scaler.update(new_scale=2.0**9)
    first.save(tmp_path / "ckpt")
    resumed = Trainer.resume(tmp_path / "ckpt", *data, device="cpu", progress=False)
    assert resumed.scaler.is_enabled() and resumed.scaler.get_scale() == 2.0**9
    assert resumed.scaler.state_dict() == first.scaler.state_dict()


def test_every_step_draws_new_dropout_masks():
    # lr 0 keeps the weights where they are and a text of one repeated token makes every batch the
    # same: the loss can only change from step to step through dropout.
    config = GPTConfig.named("tiny", context=32, d_model=32, n_layer=2, n_head=2, dropout=0.1)
    ids = np.zeros(200, dtype=np.int64)
    trainer = Trainer(GPT(config), ids, ids, train_config(steps=4, eval_every=4, lr=0.0, min_lr=0.0), device="cpu",
                      progress=False)
    start = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train()
    assert all(torch.equal(a, b) for a, b in zip(start, trainer.model.parameters()))
    assert len(set(trainer.losses)) == 4, trainer.losses


def test_each_evaluation_batch_reads_other_windows(data):
    one, four = (Trainer(GPT(CONFIG), *data, train_config(eval_batches=n), device="cpu", progress=False).evaluate()
                 for n in (1, 4))
    assert one != four  # the mean over 4 batches is not the first batch's loss four times


def test_under_fp16_clipping_sees_the_true_gradient_not_the_scaled_one(data, monkeypatch):
    # The GradScaler multiplies the loss by 2**16; the gradient must be unscaled before its norm is clipped.
    clip = torch.nn.utils.clip_grad_norm_
    norms = {}
    for precision in ("fp32", "fp16"):
        seen = norms[precision] = []

        def recording_clip(parameters, max_norm, *args, **kwargs):
            total = clip(parameters, max_norm, *args, **kwargs)
            seen.append(total.item())
            return total

        monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording_clip)
        Trainer(GPT(CONFIG), *data, train_config(steps=3, precision=precision), device="cpu", progress=False).train()
    assert len(norms["fp16"]) == 3
    np.testing.assert_allclose(norms["fp16"], norms["fp32"], rtol=0.05)


def test_gradients_are_clipped_to_the_set_norm_before_the_step(data, monkeypatch):
    # AdamW divides by the gradient's own scale, so a wrong clipping norm barely moves a first step's
    # loss: check the gradient the optimizer is handed instead.
    clip, handed = torch.nn.utils.clip_grad_norm_, []

    def recording_clip(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        total = clip(parameters, max_norm, *args, **kwargs)
        handed.append((total.item(), torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in parameters])).item()))
        return total

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording_clip)
    Trainer(GPT(CONFIG), *data, train_config(steps=2, grad_clip=0.05), device="cpu", progress=False).train()
    assert [before > 0.05 for before, _ in handed] == [True, True]  # the raw gradients are larger than the limit
    np.testing.assert_allclose([after for _, after in handed], [0.05, 0.05], rtol=1e-4)


@pytest.fixture
def saved_at_step_3(data, tmp_path):
    Trainer(GPT(CONFIG), *data, train_config(), device="cpu", progress=False).train(until=3, checkpoint_dir=tmp_path)
    return tmp_path


def test_resume_with_more_steps_applies_them_and_says_what_they_do_to_the_schedule(data, saved_at_step_3, capsys):
    trainer = Trainer.resume(saved_at_step_3, *data, device="cpu", progress=False, steps=10, eval_every=5)
    said = capsys.readouterr().out
    assert f"resuming {saved_at_step_3} at step 3 with changed settings: eval_every 3 -> 5; steps 6 -> 10" in said
    lr_then, lr_now = learning_rate(3, train_config()), learning_rate(3, train_config(steps=10))
    assert f"the learning rate of step 3 is {lr_now:.3g}, where it was {lr_then:.3g}" in said
    assert trainer.config == train_config(steps=10, eval_every=5)
    trainer.train()
    assert trainer.step == 10 and [row["step"] for row in trainer.history] == [3, 5, 10]
    # Resuming with the saved settings says nothing: there is nothing to say.
    Trainer.resume(saved_at_step_3, *data, device="cpu", progress=False, steps=6)
    assert capsys.readouterr().out == ""


def test_resume_refuses_other_settings_and_lists_every_one_with_both_values(data, saved_at_step_3):
    with pytest.raises(ResumeError) as refused:
        Trainer.resume(saved_at_step_3, *data, device="cpu", lr=0.5, batch_size=16, beta2=0.9, seed=1, steps=2)
    message = str(refused.value)
    for line in ("batch_size: 8 in the checkpoint, 16 asked", "beta2: 0.99 in the checkpoint, 0.9 asked",
                 "lr: 0.003 in the checkpoint, 0.5 asked", "seed: 0 in the checkpoint, 1 asked",
                 "steps: 6 in the checkpoint, 2 asked (the run is already at step 3)"):
        assert line in message, message
    fix = "pass allow_changes=('batch_size', 'beta2', 'lr') (on the command line: --allow-change batch_size beta2 lr)"
    assert fix in message
    assert "seed cannot change on resume: train a new run in another folder" in message
    # Allowing the seed does not make it changeable.
    with pytest.raises(ResumeError, match="seed: 0 in the checkpoint, 1 asked"):
        Trainer.resume(saved_at_step_3, *data, device="cpu", seed=1, allow_changes=("seed",))
    with pytest.raises(TypeError, match=r"\['learning_rate'\], which are not TrainConfig settings"):
        Trainer.resume(saved_at_step_3, *data, device="cpu", learning_rate=0.5)


def test_resume_applies_the_changes_it_is_asked_for_explicitly(data, saved_at_step_3, capsys):
    trainer = Trainer.resume(saved_at_step_3, *data, device="cpu", progress=False, lr=1e-3, beta2=0.9,
                             allow_changes=("lr", "beta2"))
    assert "beta2 0.99 -> 0.9; lr 0.003 -> 0.001" in capsys.readouterr().out
    trainer.train_step()
    assert all(g["lr"] == learning_rate(3, train_config(lr=1e-3)) and g["betas"] == (0.9, 0.9)
               for g in trainer.optimizer.param_groups)


def test_the_command_line_resumes_with_the_saved_settings_and_refuses_what_it_cannot_apply(tmp_path, capsys):
    out = str(tmp_path / "run")
    common = ["--out", out, "--sample-tokens", "0", "--device", "cpu"]
    main(["--config", "tiny", "--steps", "4", "--stop-at", "2", "--batch-size", "4", "--lr", "2e-3",
          "--eval-every", "2", "--eval-batches", "1", "--precision", "fp32", *common])
    with pytest.raises(ResumeError) as refused:
        main(["--resume", "--lr", "0.5", "--batch-size", "8", *common])
    assert "batch_size: 4 in the checkpoint, 8 asked\n  lr: 0.002 in the checkpoint, 0.5 asked" in str(refused.value)
    assert "--allow-change batch_size lr" in str(refused.value)
    with pytest.raises(ResumeError, match="n_layer: 2 in the checkpoint, 4 asked"):
        main(["--resume", "--config", "shakespeare-small", *common])
    capsys.readouterr()
    # The flags left out are the checkpoint's (its lr 2e-3 and batch 4, not the defaults); --steps is applied.
    main(["--resume", "--steps", "6", "--allow-change", "lr", "--lr", "1e-3", *common])
    said = capsys.readouterr().out
    assert "with changed settings: lr 0.002 -> 0.001; steps 4 -> 6" in said and "trained to step 6" in said
