"""Training: optax (clipping, AdamW, warmup + cosine), bf16 compute on float32 master weights,
one jitted step that runs data-parallel over every device, evaluation, resumable checkpoints.

As the microGPT seed trained on a TPU v3-8::

    optax.chain(optax.clip_by_global_norm(1.0),
                optax.adamw(warmup_cosine_decay_schedule(0, 5e-4, 100, decay, 1e-5), weight_decay=0.01))

Its two experiments are the named ``TrainConfig``\\ s ``"seed-17m"`` and ``"seed-10m"``.

Command line (trains, checkpoints, then samples)::

    python -m microgpt.train --config shakespeare-char --corpus tinyshakespeare --out runs/shakespeare
"""

import argparse
import math
import time
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from lmbase.batches import BatchSampler
from lmbase.resume import ResumeError, describe_changes, resume_changes

from . import checkpoint
from .data_parallel import batch_sharded, check_batch_divisible, make_mesh, replicated
from .model import GPTConfig, init_params, loss_fn

# babygpt names its precisions the same way (babygpt.train.PRECISIONS)
PRECISIONS = {"bf16": jnp.bfloat16, "fp32": jnp.float32}


@dataclass(frozen=True)
class TrainConfig:
    """How to train: the batch, the schedule and the optimizer. ``steps`` counts optimizer updates."""

    batch_size: int = 64
    steps: int = 5000
    lr: float = 5e-4
    warmup_steps: int = 100
    decay_steps: int = 5000  # optax counts these from step 0, warmup included
    min_lr: float = 1e-5
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.999
    decay_all: bool = False  # the seed's optax.adamw decays every parameter; nanoGPT only the matrices
    precision: str = "bf16"
    eval_every: int = 250
    eval_batches: int = 20
    seed: int = 0

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r}: use one of {sorted(PRECISIONS)}")
        if self.batch_size < 1 or self.steps < 0:
            raise ValueError(f"batch_size={self.batch_size} must be >= 1 and steps={self.steps} >= 0")

    @classmethod
    def named(cls, name: str, **overrides) -> "TrainConfig":
        if name not in NAMED_TRAIN_CONFIGS:
            raise KeyError(f"no training configuration {name!r}: the named ones are {sorted(NAMED_TRAIN_CONFIGS)}")
        return replace(NAMED_TRAIN_CONFIGS[name], **overrides)


NAMED_TRAIN_CONFIGS = {
    # the seed's README, experiment 1 (batch 128, decay 7600) and experiment 2 (batch 64, decay 20000)
    "seed-17m": TrainConfig(batch_size=128, steps=7600, lr=5e-4, warmup_steps=100, decay_steps=7600, min_lr=1e-5,
                            decay_all=True),
    "seed-10m": TrainConfig(batch_size=64, steps=20000, lr=5e-4, warmup_steps=100, decay_steps=20000, min_lr=1e-5,
                            decay_all=True),
    # nanoGPT's Tiny Shakespeare character recipe (lr 1e-3 -> 1e-4, beta2 0.99, weight decay 0.1)
    "shakespeare-char": TrainConfig(batch_size=64, steps=5000, lr=1e-3, warmup_steps=100, decay_steps=5000,
                                    min_lr=1e-4, weight_decay=0.1, beta2=0.99, eval_every=250, eval_batches=200),
    # The course models (lmbase.course_models), sized for a 2-core CPU: lr 2e-3 -> 2e-4, batch 32.
    "shakespeare-small": TrainConfig(batch_size=32, steps=3000, lr=2e-3, warmup_steps=100, decay_steps=3000,
                                     min_lr=2e-4, weight_decay=0.1, beta2=0.99, eval_every=500, eval_batches=20),
    "shakespeare-pair": TrainConfig(batch_size=32, steps=800, lr=2e-3, warmup_steps=100, decay_steps=800,
                                    min_lr=2e-4, weight_decay=0.1, beta2=0.99, eval_every=200, eval_batches=20),
    "tiny": TrainConfig(batch_size=8, steps=50, lr=3e-3, warmup_steps=5, decay_steps=50, min_lr=3e-4,
                        eval_every=25, eval_batches=2),
}
# the seed's block trained by the same recipe, so that `--config shakespeare-char-seed` alone trains
NAMED_TRAIN_CONFIGS["shakespeare-char-seed"] = NAMED_TRAIN_CONFIGS["shakespeare-char"]


def make_schedule(tc: TrainConfig):
    """Linear warmup from 0 to ``lr``, then cosine decay to ``min_lr`` at ``decay_steps``."""
    return optax.warmup_cosine_decay_schedule(0.0, tc.lr, tc.warmup_steps, tc.decay_steps, tc.min_lr)


def decayed(params) -> dict:
    """Which parameters weight decay applies to: the matrices (embeddings, projections), not the
    LayerNorm gains and biases, as in babygpt and nanoGPT. A tree of bools shaped like ``params``."""
    return jax.tree.map(lambda p: p.ndim >= 2, params)


def make_optimizer(tc: TrainConfig) -> optax.GradientTransformation:
    """Clip the global gradient norm, then AdamW with decoupled weight decay on the schedule
    (on every parameter when ``tc.decay_all``, the seed's choice; on the matrices otherwise)."""
    return optax.chain(
        optax.clip_by_global_norm(tc.grad_clip),
        optax.adamw(make_schedule(tc), b1=tc.beta1, b2=tc.beta2, weight_decay=tc.weight_decay,
                    mask=None if tc.decay_all else decayed),
    )


def cast_tree(tree, dtype):
    """Every floating-point leaf cast to ``dtype`` (the bf16 compute copy of float32 masters)."""
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


@lru_cache(maxsize=16)
def make_train_step(config: GPTConfig, tc: TrainConfig, mesh):
    """The jitted step ``(params, opt_state, x, y, key) -> (params, opt_state, loss)``.

    The forward and backward run in ``precision`` on a copy of the float32 parameters;
    the gradients come back in float32 (the cast is differentiated) and update the masters.
    Parameters and state are replicated over ``mesh`` and ``x``, ``y`` sharded along the batch.
    Cached, so that runs of the same configuration (a resumed run) reuse the compiled step.
    """
    dtype = PRECISIONS[tc.precision]
    optimizer = make_optimizer(tc)

    def step(params, opt_state, x, y, key):
        def loss_of(p):
            return loss_fn(cast_tree(p, dtype), x, y, config, dropout_key=key)

        loss, grads = jax.value_and_grad(loss_of)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    rep, data = replicated(mesh), batch_sharded(mesh)
    return jax.jit(step, in_shardings=(rep, rep, data, data, rep), out_shardings=(rep, rep, rep),
                   donate_argnums=(0, 1))


@partial(jax.jit, static_argnames=("config", "dtype"))
def _eval_loss(params, x, y, config, dtype):
    return loss_fn(cast_tree(params, dtype), x, y, config)


def evaluate(params, ids: np.ndarray, config: GPTConfig, *, batch_size: int, n_batches: int,
             precision: str = "bf16", seed: int = 1234) -> float:
    """Mean loss (nats per token) over ``n_batches`` fixed random windows of ``ids``, no dropout.

    The windows come from ``seed``, so every evaluation of a run sees the same text.
    """
    sampler = BatchSampler(ids, batch_size, config.context, seed=seed)
    dtype = PRECISIONS[precision]
    losses = [float(_eval_loss(params, jnp.asarray(x), jnp.asarray(y), config, dtype))
              for x, y in (sampler.sample() for _ in range(n_batches))]
    return float(np.mean(losses))


# Resuming (lmbase.resume): these settings may change, these never, the others only when asked for.
RESUME_FREE = ("steps", "eval_every", "eval_batches")
RESUME_FIXED = {"seed": "it picks every batch and dropout mask of the run",
                "decay_all": "the optimizer's saved state has the structure of the other choice"}


def steps_note(tc: TrainConfig) -> str:
    """What a new ``steps`` does to a resumed run: nothing to the schedule, which has its own ``decay_steps``."""
    after = f", then stays at min_lr={tc.min_lr:g} to step {tc.steps}" if tc.steps > tc.decay_steps else ""
    return f"the schedule is as saved: its cosine decay ends at step {tc.decay_steps}{after}"


def train(config: GPTConfig, tc: TrainConfig, train_ids: np.ndarray, val_ids: np.ndarray | None = None, *,
          mesh=None, out_dir=None, resume: bool = False, allow_changes=(), stop_at: int | None = None,
          checkpoint_interval: int | None = None, tokenizer_chars: str | None = None,
          progress: bool = True, params=None) -> tuple[dict, list[dict], list[float]]:
    """Train ``config`` with ``tc`` on ``train_ids``; returns ``(params, history, losses)``.

    As babygpt's ``Trainer``: ``history`` holds one dict per evaluation, ``{"step", "train_loss",
    "val_loss", "lr"}`` (the mean losses over ``eval_batches`` fixed batches of the training and
    the validation ids, and the learning rate of the last step taken), every ``eval_every`` steps
    and at step ``tc.steps``; without ``val_ids`` nothing is evaluated and ``history`` stays empty.
    ``losses`` is the training loss of every step taken, ``losses[i]`` that of step ``i + 1``.
    With ``out_dir`` a checkpoint (both lists included) is written every ``checkpoint_interval``
    steps and at the end; ``resume=True`` continues from it exactly (the same batches, dropout
    masks, updates, history and losses as an uninterrupted run). A ``tc`` other than the
    checkpoint's follows ``lmbase.resume``'s policy: ``steps``, ``eval_every`` and ``eval_batches``
    may change (a new ``steps`` leaves the schedule as it is), ``seed`` and ``decay_all`` may not,
    and the others only when named in ``allow_changes``; what changes is printed, anything else
    raises a ResumeError listing every setting that differs. ``stop_at`` ends the run early at
    that step, as an interruption would.
    """
    if resume and out_dir is None:
        raise ValueError("resume=True continues from the checkpoint in out_dir, but out_dir is None: pass "
                         "out_dir=<the folder the interrupted run saved to>")
    mesh = make_mesh() if mesh is None else mesh
    check_batch_divisible(tc.batch_size, mesh)
    optimizer = make_optimizer(tc)
    step_fn = make_train_step(config, tc, mesh)
    sampler = BatchSampler(train_ids, tc.batch_size, config.context, seed=tc.seed)
    base_key = jax.random.key(tc.seed)
    schedule = make_schedule(tc)
    history, losses = [], []
    start = 0
    if resume:
        params, _, _ = checkpoint.load(out_dir, expected=config)
        opt_tensors, state = checkpoint.read_training_state(out_dir)
        start = state["step"]
        changes = resume_changes(out_dir, start, state.get("train_config", {}), asdict(tc), free=RESUME_FREE,
                                 fixed=RESUME_FIXED, allow_changes=allow_changes)
        if changes:
            print(describe_changes(out_dir, start, changes, {"steps": steps_note(tc)}))
        opt_state = checkpoint.unflatten_tree_by_path(opt_tensors, optimizer.init(params))
        sampler.rng.bit_generator.state = state["sampler_state"]
        history, losses = state["history"], state["losses"]
    else:
        params = init_params(config, seed=tc.seed) if params is None else params
        opt_state = optimizer.init(params)
    params = jax.device_put(params, replicated(mesh))
    opt_state = jax.device_put(opt_state, replicated(mesh))
    data_sharding = batch_sharded(mesh)
    end = tc.steps if stop_at is None else min(stop_at, tc.steps)

    def save():
        state = {"step": step + 1, "sampler_state": sampler.rng.bit_generator.state, "history": history,
                 "losses": losses, "train_config": asdict(tc)}
        checkpoint.save(out_dir, params, config, tokenizer_chars=tokenizer_chars,
                        optimizer_state=opt_state, train_state=state)

    def record_evaluation(at_step):
        if val_ids is None:
            return
        train_loss, val_loss = (evaluate(params, ids, config, batch_size=tc.batch_size, n_batches=tc.eval_batches,
                                         precision=tc.precision) for ids in (train_ids, val_ids))
        history.append({"step": at_step, "train_loss": train_loss, "val_loss": val_loss,
                        "lr": float(schedule(max(at_step - 1, 0)))})  # step n updates with the schedule's count n - 1

    bar = tqdm(range(start, end), initial=start, total=tc.steps, disable=not progress, desc="train")
    step = start - 1
    for step in bar:
        x, y = sampler.sample()
        x, y = jax.device_put(x.astype(np.int32), data_sharding), jax.device_put(y.astype(np.int32), data_sharding)
        params, opt_state, loss = step_fn(params, opt_state, x, y, jax.random.fold_in(base_key, step))
        losses.append(float(loss))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if (step + 1) % tc.eval_every == 0 and step + 1 != tc.steps:
            record_evaluation(step + 1)
        if out_dir is not None and checkpoint_interval and (step + 1) % checkpoint_interval == 0:
            save()
    if end == tc.steps and (not history or history[-1]["step"] != tc.steps):
        record_evaluation(tc.steps)
    if out_dir is not None and end > start:
        save()
    return params, history, losses


def perplexity(loss: float) -> float:
    """``exp(loss)``: the effective number of equally likely next tokens."""
    return math.exp(loss)


def main(argv=None):
    """Train a named configuration on a named corpus, save a checkpoint, then print a sample."""
    from lmbase.batches import train_val_split
    from lmbase.char_tokenizer import CharTokenizer
    from lmbase.corpora import load_text

    from .generate import generate

    parser = argparse.ArgumentParser(
        prog="python -m microgpt.train", description=main.__doc__,
        epilog="With --resume the run goes on from the checkpoint in --out. Without --config and --train-config "
               "it keeps the checkpoint's model and settings, and --steps, --eval-every, --batch-size and "
               "--precision typed as well are applied to them (--steps only extends the run: the schedule stays "
               "as saved). With either, the settings are built as for a new run and compared with the "
               "checkpoint's. --steps and --eval-every may change; any other setting that differs is refused "
               "unless --allow-change names it, and the seed is refused whenever it differs.",
    )
    parser.add_argument("--config", default=None, help="a name in GPTConfig.named (default shakespeare-char)")
    parser.add_argument("--train-config", default=None, help="a name in TrainConfig.named (default: --config)")
    parser.add_argument("--corpus", default="tinyshakespeare", help="a name from lmbase.corpora.CORPORA or DERIVED")
    parser.add_argument("--out", default=None, help="checkpoint folder (default runs/<config>)")
    parser.add_argument("--steps", type=int, default=None,
                        help="override the number of steps (on a new run also the schedule's decay_steps)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--context", type=int, default=None)
    parser.add_argument("--eval-every", type=int, default=None)
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default=None)
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument("--allow-change", nargs="+", default=[], metavar="SETTING",
                        help="with --resume: apply these settings although they differ from the checkpoint's, "
                             "e.g. --allow-change batch_size")
    parser.add_argument("--stop-at", type=int, default=None, help="stop (and checkpoint) at this step")
    parser.add_argument("--sample-tokens", type=int, default=500)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--top-p", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.allow_change and not args.resume:
        parser.error("--allow-change applies to --resume only: a new run takes every setting typed")

    text = load_text(args.corpus)
    tokenizer = CharTokenizer.from_text(text)
    train_ids, val_ids = train_val_split(tokenizer.encode(text), 0.1)
    name = args.config or "shakespeare-char"
    out = args.out or f"runs/{name}"
    typed = {k: v for k, v in {"steps": args.steps, "batch_size": args.batch_size,
                               "eval_every": args.eval_every, "precision": args.precision}.items() if v is not None}
    recipe_named = args.config is not None or args.train_config is not None
    if args.resume:
        _, config, config_json = checkpoint.load(out)
        if config_json.get("tokenizer", {}).get("chars", "".join(tokenizer.chars)) != "".join(tokenizer.chars):
            raise ValueError(f"the checkpoint in {out} was trained with another vocabulary than corpus "
                             f"{args.corpus!r}: resume with the corpus it was trained on")
        saved = checkpoint.read_training_state(out)[1].get("train_config", {})
    if args.resume and not recipe_named:
        # the checkpoint's own model and settings; a typed --context is checked against them by train()
        config = replace(config, context=args.context) if args.context else config
        known = {f.name for f in fields(TrainConfig)}
        tc = replace(TrainConfig(**{k: v for k, v in saved.items() if k in known}), **typed)
    else:
        overrides = {"vocab_size": tokenizer.vocab_size}
        if args.context:
            overrides["context"] = args.context
        config = GPTConfig.named(name, **overrides)
        tc = TrainConfig.named(args.train_config or name, **typed)
        if args.steps is not None:
            tc = replace(tc, decay_steps=args.steps, warmup_steps=min(tc.warmup_steps, max(1, args.steps // 10)))
    print(f"{name}: {config}\n{tc}\n{len(jax.devices())} device(s): {jax.devices()[0].platform}")
    started = time.perf_counter()
    try:
        params, history, _ = train(
            config, tc, train_ids, val_ids, out_dir=out, resume=args.resume, stop_at=args.stop_at,
            allow_changes=[a.replace("-", "_") for a in args.allow_change],
            checkpoint_interval=max(1, tc.eval_every), tokenizer_chars="".join(tokenizer.chars))
    except ResumeError as error:
        if args.steps is None or not recipe_named or not {"decay_steps", "warmup_steps"} & set(error.refused):
            raise
        raise ResumeError(f"{error}\n(--steps sets decay_steps and warmup_steps too when --config or "
                          f"--train-config names a recipe: to train on to step {args.steps} on the saved schedule, "
                          f"resume with --resume --out {out} --steps {args.steps} alone)", error.refused) from None
    elapsed = time.perf_counter() - started
    if history:
        last = history[-1]
        print(f"step {last['step']}: train loss {last['train_loss']:.4f}, validation loss {last['val_loss']:.4f} "
              f"(perplexity {perplexity(last['val_loss']):.2f}) after {elapsed:.0f} s; checkpoint in {out}")
    if args.sample_tokens:
        prompt = tokenizer.encode("\n")
        sample = generate(params, prompt, config, args.sample_tokens, key=jax.random.key(tc.seed),
                          temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
        print(tokenizer.decode(sample[0]))
    return history


if __name__ == "__main__":
    main()
