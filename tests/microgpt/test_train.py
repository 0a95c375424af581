"""Training: the loss falls, bf16 compute keeps float32 masters, resuming continues exactly."""

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lmbase.resume import ResumeError
from microgpt import checkpoint
from microgpt.model import GPTConfig, init_params
from microgpt.train import TrainConfig, evaluate, main, make_optimizer, make_schedule, perplexity, train

CONFIG = GPTConfig(vocab_size=16, context=16, n_layer=1, n_head=2, d_model=32, dropout=0.1)
TC = TrainConfig(batch_size=8, steps=8, lr=1e-2, warmup_steps=2, decay_steps=8, min_lr=1e-3,
                 eval_every=4, eval_batches=2)


@pytest.fixture(scope="module")
def data():
    # a learnable sequence: a repeating pattern with a little noise
    rng = np.random.default_rng(0)
    ids = np.tile(np.arange(16), 400)
    noise = rng.random(ids.shape) < 0.05
    ids[noise] = rng.integers(0, 16, noise.sum())
    return ids[:5000], ids[5000:]


@pytest.fixture(scope="module")
def uninterrupted(data):
    return train(CONFIG, TC, *data, progress=False)


def test_loss_falls_and_params_stay_float32(uninterrupted):
    params, history, losses = uninterrupted
    assert len(losses) == 8 and losses[-1] < losses[0] - 0.2
    assert [row["step"] for row in history] == [4, 8]
    assert all(set(row) == {"step", "train_loss", "val_loss", "lr"} for row in history)
    assert history[1]["val_loss"] < history[0]["val_loss"] < np.log(16)
    assert history[1]["train_loss"] < history[0]["train_loss"] < np.log(16)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))


def test_history_records_the_learning_rate_of_the_last_step_and_the_train_loss_as_evaluated(data, uninterrupted):
    params, history, _ = uninterrupted
    schedule = make_schedule(TC)  # step n updates with schedule(n - 1), as babygpt's learning_rate(n - 1)
    assert [row["lr"] for row in history] == [float(schedule(3)), float(schedule(7))]
    assert history[0]["lr"] != float(schedule(4))
    train_loss = evaluate(params, data[0], CONFIG, batch_size=8, n_batches=2)
    assert history[-1]["train_loss"] == pytest.approx(train_loss, abs=1e-6)
    assert history[-1]["train_loss"] != pytest.approx(history[-1]["val_loss"], abs=1e-6)


def test_without_validation_ids_nothing_is_evaluated(data):
    _, history, losses = train(CONFIG, replace(TC, steps=2), data[0], progress=False)
    assert history == [] and len(losses) == 2


def test_resume_continues_exactly(data, uninterrupted, tmp_path):
    params, history, losses = uninterrupted
    _, first_history, first_losses = train(CONFIG, TC, *data, out_dir=tmp_path / "ck", stop_at=5, progress=False)
    assert len(first_losses) == 5 and [row["step"] for row in first_history] == [4]
    resumed, resumed_history, resumed_losses = train(CONFIG, TC, *data, out_dir=tmp_path / "ck", resume=True,
                                                     progress=False)
    # the same batches, dropout masks and updates: equal to the last bit on one CPU
    assert resumed_history == history and resumed_losses == losses
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(a, b)


def test_evaluate_is_deterministic_and_perplexity_is_exp(data, uninterrupted):
    params, history, _ = uninterrupted
    loss = evaluate(params, data[1], CONFIG, batch_size=8, n_batches=2)
    assert loss == evaluate(params, data[1], CONFIG, batch_size=8, n_batches=2)
    assert loss == pytest.approx(history[-1]["val_loss"], abs=1e-6)
    assert perplexity(np.log(65.0)) == pytest.approx(65.0)


def test_schedule_and_optimizer_match_the_seed():
    seed = TrainConfig.named("seed-10m")
    assert (seed.batch_size, seed.lr, seed.warmup_steps, seed.decay_steps, seed.min_lr) == (64, 5e-4, 100, 20000, 1e-5)
    assert TrainConfig.named("seed-17m").batch_size == 128
    schedule = make_schedule(seed)
    assert float(schedule(0)) == 0.0
    assert float(schedule(50)) == pytest.approx(2.5e-4)
    assert float(schedule(100)) == pytest.approx(5e-4)
    assert float(schedule(20000)) == pytest.approx(1e-5)
    midpoint = 100 + (20000 - 100) // 2  # halfway through the cosine: (peak + end) / 2
    assert float(schedule(midpoint)) == pytest.approx((5e-4 + 1e-5) / 2, rel=1e-3)


def test_resume_without_a_folder_says_which_argument_is_missing(data):
    with pytest.raises(ValueError, match="resume=True continues from the checkpoint in out_dir, but out_dir is None"):
        train(CONFIG, TC, *data, resume=True, progress=False)


def test_the_optimizer_is_clipping_then_adamw_with_decoupled_weight_decay():
    # AdamW written out in float64 (Loshchilov & Hutter 2019): the decay lr * wd * w is added to
    # Adam's step, outside its m / sqrt(v) ratio; Adam + L2 would put wd * w into the gradient.
    tc = TrainConfig(lr=0.1, warmup_steps=1, decay_steps=5, min_lr=0.01, weight_decay=0.5, grad_clip=2.0,
                     beta1=0.8, beta2=0.9)
    optimizer, schedule = make_optimizer(tc), make_schedule(tc)
    w = np.array([[3.0, -2.0], [0.5, 1.0]])
    grads = [np.array([[0.3, -0.1], [0.2, 0.05]]), np.array([[-0.2, 0.4], [0.1, -0.3]]),
             np.array([[30.0, -40.0], [0.0, 0.0]]),  # global norm 50: clipped to norm 2
             np.array([[0.1, 0.1], [-0.2, 0.3]])]
    params = {"w": jnp.asarray(w, jnp.float32)}
    state = optimizer.init(params)
    m = v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        updates, state = optimizer.update({"w": jnp.asarray(g, jnp.float32)}, state, params)
        params = optax.apply_updates(params, updates)
        g = g * min(1.0, tc.grad_clip / np.linalg.norm(g))
        m, v = tc.beta1 * m + (1 - tc.beta1) * g, tc.beta2 * v + (1 - tc.beta2) * g**2
        adam = (m / (1 - tc.beta1**t)) / (np.sqrt(v / (1 - tc.beta2**t)) + 1e-8)
        w = w - float(schedule(t - 1)) * (adam + tc.weight_decay * w)
        np.testing.assert_allclose(np.asarray(params["w"]), w, rtol=1e-5, atol=1e-6, err_msg=f"step {t}")
    assert np.abs(w - np.array([[3.0, -2.0], [0.5, 1.0]])).max() > 0.2  # the updates were not negligible


def test_every_step_draws_new_dropout_masks():
    # With a learning rate of 0 the weights never move, and a text of one repeated token makes every
    # batch the same: the loss can only change from step to step through the dropout masks.
    frozen = TrainConfig(batch_size=8, steps=4, lr=0.0, warmup_steps=1, decay_steps=4, min_lr=0.0,
                         eval_every=100)
    ids = np.zeros(400, dtype=np.int64)
    params, _, losses = train(CONFIG, frozen, ids, progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(init_params(CONFIG))))
    assert len(set(losses)) == 4, losses


@pytest.mark.parametrize("decay_all", [False, True])
def test_weight_decay_reaches_the_matrices_and_spares_gains_and_biases(decay_all):
    # With zero gradients Adam's step is 0, so each parameter moves only by its decay lr * wd * p.
    tc = TrainConfig(lr=0.1, warmup_steps=1, decay_steps=5, min_lr=0.1, weight_decay=0.5, decay_all=decay_all)
    params = {"w": jnp.ones((2, 2)), "ln": {"gain": jnp.ones(2), "bias": jnp.ones(2)}}
    optimizer = make_optimizer(tc)
    zeros, state = jax.tree.map(jnp.zeros_like, params), optimizer.init(params)
    _, state = optimizer.update(zeros, state, params)  # step 0: the warmup's learning rate is 0
    updates, _ = optimizer.update(zeros, state, params)
    decay = -float(make_schedule(tc)(1)) * tc.weight_decay
    assert decay < -0.01
    np.testing.assert_allclose(np.asarray(updates["w"]), decay, rtol=1e-6)
    for leaf in jax.tree.leaves(updates["ln"]):
        np.testing.assert_allclose(np.asarray(leaf), decay if decay_all else 0.0, rtol=1e-6)


@pytest.fixture
def saved_at_step_5(data, tmp_path):
    train(CONFIG, TC, *data, out_dir=tmp_path / "ck", stop_at=5, progress=False)
    return tmp_path / "ck"


def test_resume_with_more_steps_applies_them_and_keeps_the_schedule(data, saved_at_step_5, capsys):
    longer = replace(TC, steps=12, eval_every=6)
    _, history, losses = train(CONFIG, longer, *data, out_dir=saved_at_step_5, resume=True, progress=False)
    said = capsys.readouterr().out
    assert (f"resuming {saved_at_step_5} at step 5 with changed settings: eval_every 4 -> 6; steps 8 -> 12 (the "
            f"schedule is as saved: its cosine decay ends at step 8, then stays at min_lr=0.001 to step 12)") in said
    assert len(losses) == 12 and [row["step"] for row in history] == [4, 6, 12]


def test_resume_refuses_other_settings_and_lists_every_one_with_both_values(data, saved_at_step_5):
    other = replace(TC, lr=0.5, batch_size=16, beta1=0.8, seed=3, decay_all=True)
    with pytest.raises(ResumeError) as refused:
        train(CONFIG, other, *data, out_dir=saved_at_step_5, resume=True, progress=False)
    message = str(refused.value)
    for line in ("batch_size: 8 in the checkpoint, 16 asked", "lr: 0.01 in the checkpoint, 0.5 asked",
                 "beta1: 0.9 in the checkpoint, 0.8 asked", "seed: 0 in the checkpoint, 3 asked",
                 "decay_all: False in the checkpoint, True asked"):
        assert line in message, message
    assert "pass allow_changes=('batch_size', 'beta1', 'lr') (on the command line: --allow-change" in message
    assert "decay_all and seed cannot change on resume: train a new run in another folder instead" in message
    with pytest.raises(ResumeError, match=r"steps: 8 in the checkpoint, 3 asked \(the run is already at step 5\)"):
        train(CONFIG, replace(TC, steps=3), *data, out_dir=saved_at_step_5, resume=True, progress=False)


def test_resume_applies_the_changes_it_is_asked_for_explicitly(data, saved_at_step_5, capsys):
    halved = replace(TC, lr=TC.lr / 2, min_lr=TC.min_lr / 2)
    _, history, losses = train(CONFIG, halved, *data, out_dir=saved_at_step_5, resume=True,
                               allow_changes=("lr", "min_lr"), progress=False)
    assert "lr 0.01 -> 0.005; min_lr 0.001 -> 0.0005" in capsys.readouterr().out
    assert len(losses) == 8 and [row["step"] for row in history] == [4, 8]


def test_the_command_line_resumes_with_the_saved_settings_and_refuses_what_it_cannot_apply(tmp_path, capsys):
    out = str(tmp_path / "run")
    common = ["--corpus", "tinyshakespeare", "--out", out, "--sample-tokens", "0"]
    main(["--config", "tiny", "--steps", "6", "--batch-size", "4", "--eval-every", "3", "--stop-at", "3", *common])
    with pytest.raises(ResumeError, match="batch_size: 4 in the checkpoint, 8 asked"):
        main(["--resume", "--batch-size", "8", *common])
    # With the recipe named, --steps sets the schedule as on a new run: the error says how to keep it.
    with pytest.raises(ResumeError, match="decay_steps: 6 in the checkpoint, 9 asked(.|\n)*--steps 9 alone"):
        main(["--resume", "--config", "tiny", "--steps", "9", "--batch-size", "4", *common])
    capsys.readouterr()
    history = main(["--resume", "--steps", "9", *common])  # the checkpoint's model, batch and schedule
    assert "steps 6 -> 9 (the schedule is as saved" in capsys.readouterr().out
    assert [row["step"] for row in history] == [3, 6, 9]
    assert len(checkpoint.read_training_state(out)[1]["losses"]) == 9
