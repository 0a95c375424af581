"""One checkpoint, two frameworks: microgpt (JAX) and babygpt (PyTorch) give the same logits.

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

from babygpt.checkpoint import load_model, save_model  # noqa: E402
from babygpt.microgpt_arch import MicroGPT  # noqa: E402

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
