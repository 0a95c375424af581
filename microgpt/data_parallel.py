"""Data parallelism with ``jax.sharding``: one mesh over every device, the batch split across it.

The parameters and optimizer state are replicated (every device holds a full copy); the batch is
sharded along its first axis over the mesh's ``"data"`` axis. ``jax.jit`` then runs the train step
on every device at once and inserts the all-reduce that averages the gradients. On a Colab TPU
(8 cores) the mesh has 8 devices; on a laptop CPU it has one, and the same code runs unchanged.

On a multi-host TPU pod each host calls ``jax.distributed.initialize()`` first; ``jax.devices()``
then lists every chip of the pod, the same mesh spans them all, and each host feeds its own slice
of the global batch with ``jax.make_array_from_process_local_data``.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
    """A 1-D mesh named ``"data"`` over ``devices`` (default: all of ``jax.devices()``)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.array(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array (parameters, optimizer state, scalars)."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """The first axis (the batch) is split evenly over the mesh's devices."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_batch_divisible(batch_size: int, mesh: Mesh) -> None:
    """Raise ValueError when the batch cannot be split evenly over the devices."""
    n = mesh.size
    if batch_size % n:
        raise ValueError(
            f"batch size {batch_size} is not divisible by the {n} devices of the mesh: each device "
            f"takes an equal slice, so use a multiple of {n}, e.g. {max(n, batch_size // n * n)}"
        )


def shard_batch(array, mesh: Mesh):
    """Place a host batch ``(batch, ...)`` on the mesh, split along the batch axis."""
    check_batch_divisible(np.shape(array)[0], mesh)
    return jax.device_put(array, batch_sharded(mesh))
