"""Training a babygpt model: AdamW, warmup + cosine, clipping, accumulation, mixed precision, DDP.

Follows nanoGPT's ``train.py`` in what it does (AdamW with weight decay on matrices only, linear
warmup then cosine decay, gradient clipping, gradient accumulation, bf16/fp16 autocast,
DistributedDataParallel under ``torchrun``) and differs in how it keeps state, so that a run can
be stopped and resumed exactly:

* the batch of step ``s`` is drawn from a generator seeded by ``(seed, s)``
  (``lmbase.batches.BatchSampler.at_step``), and dropout at step ``s`` from a torch seed derived
  from ``(seed, s, micro-step, rank)``: no random state has to be saved, a resumed run sees exactly
  the batches an uninterrupted one would, and torch's global generator is left as training found it;
* the learning rate is a function of the step, not a scheduler object;
* checkpoints (weights, AdamW moments, the GradScaler, the step and the loss history) are
  written atomically by ``lmbase.checkpoint``.

Under DDP each of the ``world`` processes takes its slice of the same global batch, so 2
processes compute what 1 process computes with the same ``batch_size`` (tested on CPU with gloo).

Command line: ``python -m babygpt.train --config tiny --corpus tinyshakespeare --steps 200``
(``--arch llama`` for a LLaMA configuration; ``torchrun --nproc_per_node=N -m babygpt.train ...``
for N processes).
"""

import argparse
import contextlib
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from lmbase.batches import BatchSampler, train_val_split
from lmbase.char_tokenizer import CharTokenizer
from lmbase.checkpoint import CONFIG_FILE, load_checkpoint
from lmbase.corpora import load_text
from lmbase.resume import describe_changes, resume_changes

from .checkpoint import build_model, load_tensors_into, save_model
from .llama import Llama, LlamaConfig
from .model import GPT, GPTConfig, check_token_ids, cross_entropy

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
# What --arch names: the model class and the configuration class whose named configurations --config picks.
ARCHITECTURES = {"gpt": (GPT, GPTConfig), "llama": (Llama, LlamaConfig)}
# Evaluation reads the batches of steps EVAL_STEP, EVAL_STEP + 1, ...: fixed windows no training step draws.
EVAL_STEP = 10**9


@dataclass(frozen=True)
class TrainConfig:
    """How to train. ``batch_size`` is the global batch: sequences per optimizer step, summed over
    gradient-accumulation micro-steps and DDP processes."""

    steps: int = 5000
    batch_size: int = 64
    grad_accum: int = 1
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    precision: str = "fp32"
    compile: bool = False
    eval_every: int = 250
    eval_batches: int = 20
    seed: int = 0

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r} is not one of {PRECISIONS}")
        if self.steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("steps, batch_size and grad_accum must all be at least 1")


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warmup from 0 to ``lr`` over ``warmup_steps``, then cosine decay to ``min_lr`` at ``steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.min_lr + 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))) * (config.lr - config.min_lr)


def make_optimizer(model: torch.nn.Module, config: TrainConfig, fused: bool = False) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices (embeddings, linear weights) and none on biases and gains."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2), fused=fused or None)


def dropout_seed(seed: int, step: int, micro_step: int, rank: int) -> int:
    """The torch seed for dropout in one micro-step of one process: a function of where it is."""
    return int(np.random.SeedSequence([seed, step, micro_step, rank]).generate_state(1, np.uint64)[0] >> 1)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 on a GPU that has it, fp16 (with loss scaling) on one that does not, fp32 on CPU."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


# Resuming (lmbase.resume): these settings may change, the seed may not, the others only when asked for.
RESUME_FREE = ("steps", "eval_every", "eval_batches", "compile")
RESUME_FIXED = {"seed": "it picks every batch and dropout mask of the run"}


def steps_note(step: int, saved: TrainConfig, asked: TrainConfig) -> str:
    """What a new ``steps`` does to a resumed run: the cosine decay is stretched (or shrunk) to end there."""
    return (f"the cosine decay now ends at step {asked.steps}: the learning rate of step {step} is "
            f"{learning_rate(step, asked):.3g}, where it was {learning_rate(step, saved):.3g}")


class Trainer:
    """Trains ``model`` on token arrays ``train_ids`` and ``val_ids`` (1-D int64 numpy arrays).

    ``history`` holds one dict per evaluation: step, train_loss, val_loss, lr; ``losses`` the
    training loss of every step (the mean over the global batch).
    """

    def __init__(self, model, train_ids, val_ids, config: TrainConfig, device=None, progress: bool = True):
        self.config = config
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.context = model.config.context
        for name, ids in (("train_ids", train_ids), ("val_ids", val_ids)):
            if len(ids) <= self.context:
                raise ValueError(f"{name} has {len(ids)} tokens, too few for the context {self.context}")
            check_token_ids(torch.as_tensor(ids), model.config.vocab_size)
        self.train_ids, self.val_ids = np.asarray(train_ids), np.asarray(val_ids)
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.world = dist.get_world_size() if dist.is_initialized() else 1
        if config.batch_size % (self.world * config.grad_accum):
            raise ValueError(
                f"batch_size={config.batch_size} must divide evenly among {self.world} processes x "
                f"{config.grad_accum} accumulation steps: use a multiple of {self.world * config.grad_accum}"
            )
        self.micro_batch = config.batch_size // (self.world * config.grad_accum)
        # The global batch of any step, for training and for evaluation: (batch_size, context) windows.
        self.batches = {split: BatchSampler(ids, config.batch_size, self.context, config.seed)
                        for split, ids in (("train", self.train_ids), ("val", self.val_ids))}
        self.precision = resolve_precision(config.precision, self.device)
        self.model = model.to(self.device)
        self.optimizer = make_optimizer(self.model, config, fused=self.device.type == "cuda")
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        wrapped = DistributedDataParallel(self.model) if self.world > 1 else self.model
        self.forward = torch.compile(wrapped) if config.compile else wrapped
        self.ddp = wrapped if self.world > 1 else None
        self.step = 0
        self.losses: list[float] = []
        self.history: list[dict] = []
        self.progress = progress and self.rank == 0
        self.extra_config: dict = {}

    def autocast(self):
        """The autocast context of this run's precision (nothing in fp32)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def rows(self, micro: int) -> slice:
        """The rows of a global batch that this process takes in micro-step ``micro``: the same split on
        every run, each row taken once over the processes and micro-steps."""
        start = (micro * self.world + self.rank) * self.micro_batch
        return slice(start, start + self.micro_batch)

    def train_step(self) -> torch.Tensor:
        """One optimizer step on the global batch of ``self.step``; returns its mean loss (a tensor)."""
        config = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.step, config)
        x, y = self.batches["train"].at_step(self.step)
        x, y = (torch.from_numpy(a).to(self.device, non_blocking=True) for a in (x, y))
        self.model.train()
        total = torch.zeros((), device=self.device)
        # Dropout draws from torch's global generator, seeded here for each micro-step; forking it puts
        # it back afterwards, so that what a chapter draws after training (an nn.init) does not depend on it.
        cuda = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda, device_type="cuda"):
            for micro in range(config.grad_accum):
                rows = self.rows(micro)
                torch.manual_seed(dropout_seed(config.seed, self.step, micro, self.rank))
                last = micro == config.grad_accum - 1
                sync = contextlib.nullcontext() if self.ddp is None or last else self.ddp.no_sync()
                with sync:
                    with self.autocast():
                        loss = cross_entropy(self.forward(x[rows], validate=False), y[rows]) / config.grad_accum
                    self.scaler.scale(loss).backward()
                total += loss.detach()
        if config.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.world > 1:
            dist.all_reduce(total)
            total /= self.world
        self.step += 1
        return total

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> float:
        """Mean loss over ``eval_batches`` fixed global batches of ``split`` (the same windows every time).

        Each batch holds ``batch_size`` windows, read in the micro-batches that training uses and
        shared among the processes as training shares them: the loss depends on the weights, not on
        ``grad_accum`` or on the number of processes (up to float rounding).
        """
        self.model.eval()
        losses = []
        for i in range(self.config.eval_batches):
            x, y = self.batches[split].at_step(EVAL_STEP + i)
            for micro in range(self.config.grad_accum):
                rows = self.rows(micro)
                with self.autocast():
                    logits = self.model(torch.from_numpy(x[rows]).to(self.device), validate=False)
                losses.append(cross_entropy(logits, torch.from_numpy(y[rows]).to(self.device)).item())
        loss = float(np.mean(losses))  # every micro-batch has the same number of tokens
        if self.world > 1:
            total = torch.tensor(loss, dtype=torch.float64, device=self.device)
            dist.all_reduce(total)
            loss = total.item() / self.world
        return loss

    def record_evaluation(self) -> dict:
        row = {
            "step": self.step,
            "train_loss": self.evaluate("train"),
            "val_loss": self.evaluate("val"),
            "lr": learning_rate(max(self.step - 1, 0), self.config),
        }
        self.history.append(row)
        return row

    def train(self, until: int | None = None, checkpoint_dir=None, checkpoint_every: int = 0) -> list[dict]:
        """Train from ``self.step`` up to step ``until`` (default: ``config.steps``), evaluating every
        ``eval_every`` steps and at the end, checkpointing every ``checkpoint_every`` steps and at
        the end when ``checkpoint_dir`` is given. Returns ``history``."""
        until = self.config.steps if until is None else min(until, self.config.steps)
        pending = []
        bar = tqdm(range(self.step, until), desc="training", disable=not self.progress, initial=self.step,
                   total=until)
        for _ in bar:
            pending.append(self.train_step())
            at_eval = self.step % self.config.eval_every == 0 or self.step == until
            if at_eval:
                self.losses += torch.stack(pending).tolist()
                pending = []
                row = self.record_evaluation()
                bar.set_postfix(train=f"{row['train_loss']:.3f}", val=f"{row['val_loss']:.3f}")
            if checkpoint_dir is not None and (
                self.step == until or (checkpoint_every and self.step % checkpoint_every == 0)
            ):
                if pending:
                    self.losses += torch.stack(pending).tolist()
                    pending = []
                self.save(checkpoint_dir)
        return self.history

    def save(self, folder) -> None:
        """Write the model and all training state to ``folder`` atomically (process 0 writes)."""
        if self.rank == 0:
            state = self.optimizer.state_dict()
            tensors = {}
            for index, values in state["state"].items():
                for key, value in values.items():
                    tensors[f"{index}.{key}"] = value.detach().cpu().float().numpy().reshape(value.shape)
            meta = {
                "step": self.step,
                "losses": self.losses,
                "history": self.history,
                "scaler": {k: v for k, v in self.scaler.state_dict().items()},
            }
            save_model(folder, self.model, extra_config={"train": asdict(self.config), **self.extra_config},
                       extra_parts={"optimizer": (tensors, meta)})
        if self.world > 1:
            dist.barrier()

    @classmethod
    def resume(cls, folder, train_ids, val_ids, device=None, progress: bool = True, allow_changes=(),
               **settings) -> "Trainer":
        """A Trainer in exactly the state ``save`` wrote: weights, AdamW moments, GradScaler, step, history.

        ``settings`` (TrainConfig fields) ask for other settings than the checkpoint's, by
        ``lmbase.resume``'s policy: ``steps``, ``eval_every``, ``eval_batches`` and ``compile`` may
        change (a new ``steps`` stretches the cosine decay to it), ``seed`` may not, and the others
        (the batch, the schedule, the optimizer, the precision) only when named in
        ``allow_changes``. What changes is printed; anything else raises a ResumeError listing
        every setting that differs.
        """
        unknown = sorted(set(settings) - {f.name for f in fields(TrainConfig)})
        if unknown:
            raise TypeError(f"Trainer.resume got {unknown}, which are not TrainConfig settings: use some of "
                            f"{[f.name for f in fields(TrainConfig)]}")
        tensors, config, extra = load_checkpoint(folder, parts=("optimizer",))
        opt_tensors, meta = extra["optimizer"]
        saved, asked = config["train"], {**config["train"], **settings}
        changes = resume_changes(folder, meta["step"], saved, asked, free=RESUME_FREE, fixed=RESUME_FIXED,
                                 allow_changes=allow_changes)
        model = build_model(config, Path(folder) / CONFIG_FILE)
        load_tensors_into(model, tensors, str(folder))
        trainer = cls(model, train_ids, val_ids, TrainConfig(**asked), device, progress)
        if changes and trainer.rank == 0:
            note = steps_note(meta["step"], TrainConfig(**saved), trainer.config)
            print(describe_changes(folder, meta["step"], changes, {"steps": note}))
        trainer.extra_config = {k: v for k, v in config.items() if k in ("tokenizer", "corpus")}
        state = trainer.optimizer.state_dict()
        for index in range(sum(len(g["params"]) for g in state["param_groups"])):
            keys = [k.split(".", 1)[1] for k in opt_tensors if k.split(".", 1)[0] == str(index)]
            if keys:
                state["state"][index] = {
                    key: torch.from_numpy(opt_tensors[f"{index}.{key}"]).to(trainer.device) for key in keys
                }
                if "step" in state["state"][index]:
                    state["state"][index]["step"] = state["state"][index]["step"].cpu()
        trainer.optimizer.load_state_dict(state)
        if meta["scaler"]:
            trainer.scaler.load_state_dict(meta["scaler"])
        trainer.step, trainer.losses, trainer.history = meta["step"], meta["losses"], meta["history"]
        return trainer


def corpus_ids(corpus: str) -> tuple[CharTokenizer, np.ndarray, np.ndarray]:
    """A character tokenizer of the corpus and its train/validation token ids (90/10 split)."""
    text = load_text(corpus)
    tokenizer = CharTokenizer.from_text(text)
    train_ids, val_ids = train_val_split(tokenizer.encode(text), 0.1)
    return tokenizer, train_ids, val_ids


# The training settings the command line takes (TrainConfig fields). Left out, each is TrainConfig's
# default on a new run (precision: "auto") and the checkpoint's own value with --resume.
TRAIN_SETTINGS = ("steps", "batch_size", "grad_accum", "lr", "min_lr", "warmup_steps", "precision", "compile",
                  "eval_every", "eval_batches", "seed")


def named_model_config(arch: str, name: str, dropout, vocab_size: int, parser):
    """The configuration ``--arch``, ``--config`` and ``--dropout`` name, for a vocabulary of ``vocab_size``."""
    if dropout is not None and arch == "llama":
        parser.error("--dropout: babygpt's LLaMA has no dropout; leave the flag out with --arch llama")
    overrides = {"vocab_size": vocab_size} if dropout is None else {"vocab_size": vocab_size, "dropout": dropout}
    return ARCHITECTURES[arch][1].named(name, **overrides)


def check_resumed_model(args, trainer: "Trainer", vocab_size: int, parser) -> None:
    """With --resume, --arch, --config and --dropout may only name the model the checkpoint holds."""
    arch = "llama" if isinstance(trainer.model, Llama) else "gpt"
    if args.dropout is not None and (args.arch or arch) == "llama":
        parser.error("--dropout: babygpt's LLaMA has no dropout; leave the flag out with --arch llama")
    saved = {"arch": arch, **asdict(trainer.model.config)}
    asked = {} if args.arch is None else {"arch": args.arch}
    if args.config is not None:
        asked.update(asdict(named_model_config(args.arch or arch, args.config, args.dropout, vocab_size, parser)))
    if args.dropout is not None:
        asked["dropout"] = args.dropout
    resume_changes(args.out, trainer.step, saved, asked,
                   fixed={name: "the checkpoint's weights are of its own model" for name in asked})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description="Train a named BabyGPT configuration on a named corpus, then sample.",
        epilog="With --resume the run goes on from the checkpoint in --out with the settings it was trained "
               "with. A training setting typed as well is applied if it is --steps, --eval-every, --eval-batches "
               "or --compile; any other that differs from the checkpoint's is refused unless --allow-change "
               "names it, and --seed, --arch, --config and --dropout are refused whenever they differ.",
    )
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), help="the model family (default gpt)")
    parser.add_argument("--config",
                        help="a configuration name: babygpt.model.NAMED_CONFIGS (--arch gpt) or "
                             "babygpt.llama.NAMED_LLAMA_CONFIGS (--arch llama); default tiny")
    parser.add_argument("--corpus", default="tinyshakespeare", help="a name from lmbase.corpora.CORPORA or DERIVED")
    parser.add_argument("--out", default="checkpoints/babygpt", help="checkpoint folder")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument("--allow-change", nargs="+", default=[], metavar="SETTING",
                        help="with --resume: apply these typed settings although they differ from the checkpoint's, "
                             "e.g. --allow-change lr batch_size")
    parser.add_argument("--stop-at", type=int, default=None, help="stop (and checkpoint) at this step")
    parser.add_argument("--dropout", type=float, default=None, help="override the configuration's dropout")
    settings = parser.add_argument_group("training settings (TrainConfig)")
    settings.add_argument("--steps", type=int, help=f"optimizer steps (default {TrainConfig.steps})")
    settings.add_argument("--batch-size", type=int, help=f"sequences per step (default {TrainConfig.batch_size})")
    settings.add_argument("--grad-accum", type=int, help=f"micro-steps per step (default {TrainConfig.grad_accum})")
    settings.add_argument("--lr", type=float, help=f"peak learning rate (default {TrainConfig.lr})")
    settings.add_argument("--min-lr", type=float, help=f"learning rate at the end (default {TrainConfig.min_lr})")
    settings.add_argument("--warmup-steps", type=int, help=f"(default {TrainConfig.warmup_steps})")
    settings.add_argument("--precision", choices=PRECISIONS, help="(default auto)")
    settings.add_argument("--compile", action="store_true", default=None,
                          help="torch.compile the model (worth it on a GPU)")
    settings.add_argument("--eval-every", type=int, help=f"(default {TrainConfig.eval_every})")
    settings.add_argument("--eval-batches", type=int, help=f"(default {TrainConfig.eval_batches})")
    settings.add_argument("--seed", type=int, help="initialisation, batches and dropout (default 0)")
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--sample-tokens", type=int, default=300)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    typed = {name: getattr(args, name) for name in TRAIN_SETTINGS if getattr(args, name) is not None}
    if args.allow_change and not args.resume:
        parser.error("--allow-change applies to --resume only: a new run takes every setting typed")

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = args.device
    if distributed:
        local_rank = int(os.environ["LOCAL_RANK"])
        use_cuda = torch.cuda.is_available() and device != "cpu"
        dist.init_process_group("nccl" if use_cuda else "gloo")
        if use_cuda:
            torch.cuda.set_device(local_rank)
            device = f"cuda:{local_rank}"
    tokenizer, train_ids, val_ids = corpus_ids(args.corpus)
    if args.resume:
        allow = [name.replace("-", "_") for name in args.allow_change]
        trainer = Trainer.resume(args.out, train_ids, val_ids, device=device, allow_changes=allow, **typed)
        saved_chars = trainer.extra_config.get("tokenizer", {}).get("chars")
        if saved_chars is not None and saved_chars != "".join(tokenizer.chars):
            raise ValueError(
                f"the checkpoint in {args.out} was trained with another vocabulary than corpus {args.corpus!r}: "
                f"resume with the corpus it was trained on"
            )
        check_resumed_model(args, trainer, tokenizer.vocab_size, parser)
    else:
        model_class, _ = ARCHITECTURES[args.arch or "gpt"]
        model_config = named_model_config(args.arch or "gpt", args.config or "tiny", args.dropout,
                                          tokenizer.vocab_size, parser)
        model = model_class(model_config, seed=typed.get("seed", 0))
        config = TrainConfig(**{"precision": "auto", **typed})
        trainer = Trainer(model, train_ids, val_ids, config, device=device)
        trainer.extra_config = {"corpus": args.corpus, "tokenizer": {"type": "char", "chars": "".join(tokenizer.chars)}}
    if trainer.rank == 0:
        name = args.out if args.resume else args.config or "tiny"
        print(f"{name}: {trainer.model.num_parameters():,} parameters, {trainer.world} process(es), "
              f"{trainer.precision}, device {trainer.device}")
    started = time.perf_counter()
    trainer.train(until=args.stop_at, checkpoint_dir=args.out, checkpoint_every=args.checkpoint_every)
    if trainer.rank == 0:
        for row in trainer.history:
            print(f"step {row['step']}: train loss {row['train_loss']:.4f}, val loss {row['val_loss']:.4f}")
        print(f"trained to step {trainer.step} in {time.perf_counter() - started:.1f} s; checkpoint in {args.out}")
        if args.sample_tokens:
            prompt = torch.tensor([tokenizer.encode("\n")], device=trainer.device)
            generator = torch.Generator(device=trainer.device).manual_seed(trainer.config.seed)
            # LLaMA's cached generation stops at the context; without the cache it slides a window.
            window = {"use_cache": False} if isinstance(trainer.model, Llama) else {}
            out = trainer.model.generate(prompt, args.sample_tokens, temperature=1.0, top_k=None, generator=generator,
                                         **window)
            print(tokenizer.decode(out[0].tolist()))
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
