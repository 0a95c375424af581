"""Training speed of microgpt: the seconds of each step, timed as ``babygpt.speed`` times its own.

:func:`step_seconds` builds the real train step of ``microgpt.train`` (jitted, data-parallel over
every device) for a configuration and times steps one by one after untimed warm-up steps (the
first compiles), so the two packages' medians compare like for like.
"""

import statistics
import time

import jax
import numpy as np

from .data_parallel import batch_sharded, make_mesh, replicated
from .model import GPTConfig, init_params
from .train import TrainConfig, make_optimizer, make_train_step


def step_seconds(config: GPTConfig, batch_size: int, steps: int, warmup: int = 1, precision: str = "fp32",
                 seed: int = 0) -> list[float]:
    """Seconds of each of ``steps`` training steps on random tokens after ``warmup`` untimed ones
    (at least one: it compiles); each step waits for its loss."""
    if steps < 1:
        raise ValueError(f"steps={steps}: time at least one step")
    tc = TrainConfig(batch_size=batch_size, precision=precision, steps=warmup + steps, warmup_steps=1,
                     decay_steps=warmup + steps + 1, seed=seed)
    mesh = make_mesh()
    params = jax.device_put(init_params(config, seed), replicated(mesh))
    opt_state = jax.device_put(make_optimizer(tc).init(params), replicated(mesh))
    step = make_train_step(config, tc, mesh)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, config.vocab_size, (batch_size, config.context), dtype=np.int32)
    x, y = (jax.device_put(a, batch_sharded(mesh)) for a in (x, np.roll(x, -1, axis=1)))
    key = jax.random.key(seed)
    seconds = []
    for i in range(max(1, warmup) + steps):
        start = time.perf_counter()
        params, opt_state, loss = step(params, opt_state, x, y, key)
        loss.block_until_ready()
        if i >= max(1, warmup):
            seconds.append(time.perf_counter() - start)
    return seconds


def median_tokens_per_second(seconds: list[float], batch_size: int, context: int) -> float:
    """Tokens per second of the median step (as ``babygpt.speed``)."""
    return batch_size * context / statistics.median(seconds)
