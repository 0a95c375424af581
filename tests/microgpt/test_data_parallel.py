"""Data parallelism: 8 simulated CPU devices give the loss and parameters of 1 device.

XLA_FLAGS must be set before JAX starts, so the check runs in a fresh Python process; the rest
of the suite keeps its single device.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import dataclasses
    import jax, numpy as np
    from microgpt.data_parallel import make_mesh, shard_batch
    from microgpt.model import GPTConfig
    from microgpt.train import TrainConfig, train

    assert len(jax.devices()) == 8, jax.devices()
    config = GPTConfig(vocab_size=16, context=16, n_layer=1, n_head=2, d_model=32)
    tc = TrainConfig(batch_size=16, steps=4, lr=1e-2, warmup_steps=1, decay_steps=4,
                     precision="fp32", eval_every=100, eval_batches=1)
    ids = np.random.default_rng(0).integers(0, 16, 3000)
    p8, _, losses8 = train(config, tc, ids, mesh=make_mesh(), progress=False)
    p1, _, losses1 = train(config, tc, ids, mesh=make_mesh(jax.devices()[:1]), progress=False)
    assert len(p8["embed"].sharding.device_set) == 8 and p8["embed"].sharding.is_fully_replicated
    assert len(losses8) == 4
    np.testing.assert_allclose(losses8, losses1, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(p8), jax.tree.leaves(p1)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    x = shard_batch(np.zeros((16, 4), np.int32), make_mesh())
    assert [s.data.shape for s in x.addressable_shards] == [(2, 4)] * 8
    try:
        train(config, dataclasses.replace(tc, batch_size=12), ids, mesh=make_mesh(), progress=False)
    except ValueError as error:
        assert "batch size 12 is not divisible by the 8 devices" in str(error), error
    else:
        raise AssertionError("a batch of 12 on 8 devices was accepted")
    print("ok", losses8)
""")


def test_eight_devices_equal_one():
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok")
