"""One checkpoint, two frameworks: microgpt (JAX) and babygpt (PyTorch) give the same logits,
and their trainers keep their loss history in the same shape.

The only test that imports both JAX and PyTorch. Weights go through the shared format
(``lmbase.checkpoint``: config.json + model.safetensors) in both directions.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from microgpt import checkpoint as mg_checkpoint  # noqa: E402
from microgpt.model import GPTConfig as MGConfig  # noqa: E402
from microgpt.model import forward as mg_forward  # noqa: E402
from microgpt.model import init_params, seed_config  # noqa: E402

from microgpt.train import TrainConfig as MGTrainConfig  # noqa: E402
from microgpt.train import train as mg_train  # noqa: E402

from babygpt.checkpoint import load_model, save_model  # noqa: E402
from babygpt.microgpt_arch import MicroGPT  # noqa: E402
from babygpt.model import GPT as BGModel  # noqa: E402
from babygpt.model import GPTConfig as BGConfig  # noqa: E402
from babygpt.train import Trainer  # noqa: E402
from babygpt.train import TrainConfig as BGTrainConfig  # noqa: E402

# Both sides compute in float32 with different summation orders; logits are O(1..10).
ATOL, RTOL = 1e-4, 1e-4

CONFIGS = {
    "pre_norm": MGConfig(vocab_size=50, context=24, n_layer=2, n_head=4, d_model=32),
    "seed": seed_config(50, 32, n_layer=2, n_head=4, context=24),
    "seed_normed_residual": replace(seed_config(50, 32, n_layer=2, n_head=4, context=24), block="seed_normed_residual"),
}


def perturbed(params, seed):
    """Every parameter moved off its initial value (scales off 1, biases off 0), so each one counts."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(treedef, [x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])


@pytest.mark.parametrize("block", sorted(CONFIGS))
def test_microgpt_checkpoint_gives_the_same_logits_in_babygpt(block, tmp_path):
    config = CONFIGS[block]
    params = perturbed(init_params(config, seed=0), seed=1)
    mg_checkpoint.save(tmp_path / "mg", params, config)
    model, config_json = load_model(tmp_path / "mg")
    assert isinstance(model, MicroGPT) and config_json["model_type"] == "microgpt"
    ids = np.random.default_rng(0).integers(0, 50, size=(3, 24))
    theirs = np.asarray(mg_forward(params, jnp.asarray(ids), config))
    ours = model.eval()(torch.from_numpy(ids)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, atol=ATOL, rtol=RTOL)
    assert np.abs(theirs).max() > 1.0  # logits of real size, so the tolerance is meaningful


@pytest.mark.parametrize("block", sorted(CONFIGS))
def test_babygpt_checkpoint_gives_the_same_logits_in_microgpt(block, tmp_path):
    config = CONFIGS[block]
    model = MicroGPT(config, seed=3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    save_model(tmp_path / "bg", model)
    params, loaded_config, _ = mg_checkpoint.load(tmp_path / "bg", expected=CONFIGS[block])
    ids = np.random.default_rng(1).integers(0, 50, size=(2, 24))
    theirs = np.asarray(mg_forward(params, jnp.asarray(ids), loaded_config))
    ours = model.eval()(torch.from_numpy(ids)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, atol=ATOL, rtol=RTOL)


def test_both_trainers_keep_one_dict_per_evaluation_and_every_step_s_loss():
    # 6 steps evaluated every 4: at step 4 and at the end, in both packages
    ids = np.tile(np.arange(16), 200)
    train_ids, val_ids = ids[:2800], ids[2800:]
    steps, eval_every = 6, 4
    _, mg_history, mg_losses = mg_train(
        MGConfig(vocab_size=16, context=8, n_layer=1, n_head=2, d_model=16),
        MGTrainConfig(batch_size=4, steps=steps, warmup_steps=1, decay_steps=steps, eval_every=eval_every,
                      eval_batches=1),
        train_ids, val_ids, progress=False)
    trainer = Trainer(BGModel(BGConfig(vocab_size=16, context=8, n_layer=1, n_head=2, d_model=16)), train_ids,
                      val_ids, BGTrainConfig(steps=steps, batch_size=4, warmup_steps=1, eval_every=eval_every,
                                             eval_batches=1), device="cpu", progress=False)
    bg_history = trainer.train()
    for history in (mg_history, bg_history):
        assert [row["step"] for row in history] == [4, 6]
        assert all(set(row) == {"step", "train_loss", "val_loss", "lr"} for row in history)
    assert len(mg_losses) == len(trainer.losses) == steps
