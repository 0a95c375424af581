"""The course models: small checkpoints trained by the course's own command lines, stored in the
repository, each with a record of how it was made.

Each model is a folder ``lmbase/models/<name>/`` in the format both packages read
(``config.json`` + ``model.safetensors``, weights stored as float16) and ``record.json``: the
exact command, seed, steps, wall time, machine, package versions and commit of the run, its
training loss at every step, its validation loss at every evaluation, and the validation loss
of the stored file over :func:`validation_windows`. ``lmbase/models/MANIFEST.json`` holds the
sha256 of every file; :func:`path` checks them before a chapter loads a model.

``./dev models`` (``tools/course_models.py``) trains them again; ``COURSE_MODELS`` says how.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .batches import train_val_split
from .corpora import load_text

MODELS_DIR = Path(__file__).resolve().parent / "models"
MANIFEST = MODELS_DIR / "MANIFEST.json"
RECORD_FILE = "record.json"
STORED_FILES = ("config.json", "model.safetensors", RECORD_FILE)
SIZE_BUDGET_BYTES = 40 * 2**20  # every course model together


class CourseModelError(RuntimeError):
    """A course model is unknown, missing, or not the file its manifest describes."""


@dataclass(frozen=True)
class CourseModel:
    """How a course model is made: ``python -m <module> <args> --out <folder>``."""

    name: str
    module: str  # the package's training command line
    args: tuple[str, ...]
    about: str
    full_args: tuple[str, ...] = ()  # the full-size recipe, for a GPU (none: the model has no larger form)

    @property
    def package(self) -> str:
        return self.module.split(".")[0]

    def command(self, out) -> list[str]:
        """The argv after ``python``, writing its checkpoint to ``out``."""
        return ["-m", self.module, *self.args, "--out", str(out)]

    def full_command(self, out) -> list[str]:
        """The argv after ``python`` of the full-size recipe."""
        return ["-m", self.module, *self.full_args, "--out", str(out)]


def _babygpt(name, about, config, steps, eval_every=500, *extra, corpus="tinyshakespeare", full=()):
    args = ("--config", config, "--corpus", corpus, "--steps", str(steps), "--batch-size", "32",
            "--lr", "2e-3", "--min-lr", "2e-4", "--warmup-steps", "100", "--eval-every", str(eval_every),
            "--eval-batches", "20", "--seed", "0", "--precision", "fp32", "--sample-tokens", "0", *extra)
    return CourseModel(name, "babygpt.train", args, about, full)


def _microgpt(name, about, config, train_config, full=()):
    args = ("--config", config, "--train-config", train_config, "--corpus", "tinyshakespeare",
            "--precision", "fp32", "--sample-tokens", "0")
    return CourseModel(name, "microgpt.train", args, about, full)


# nanoGPT's baby Shakespeare recipe (config/train_shakespeare_char.py), for a GPU.
_BABYGPT_FULL = ("--config", "nanogpt-baby", "--corpus", "tinyshakespeare", "--steps", "5000", "--batch-size", "64",
                 "--lr", "1e-3", "--min-lr", "1e-4", "--warmup-steps", "100", "--eval-every", "250",
                 "--eval-batches", "200", "--seed", "0", "--precision", "auto", "--compile", "--sample-tokens", "0")

# The same recipe through microgpt (its named "shakespeare-char" model and training configurations).
_MICROGPT_FULL = ("--config", "shakespeare-char", "--train-config", "shakespeare-char", "--corpus", "tinyshakespeare",
                  "--precision", "bf16", "--sample-tokens", "0")


COURSE_MODELS = {m.name: m for m in (
    _babygpt("babygpt-shakespeare", "babygpt's GPT (chapter 6), 1.81M parameters", "shakespeare-small", 4000,
             full=_BABYGPT_FULL),
    _babygpt("llama-shakespeare", "babygpt's LLaMA (chapter 8), the same shape", "shakespeare-small", 2000, 500,
             "--arch", "llama"),
    # the same, for babygpt-shakespeare's 4000 steps: without dropout it overfits after about 2500
    _babygpt("llama-shakespeare-long", "babygpt's LLaMA (chapter 8), trained as long as babygpt-shakespeare", "shakespeare-small",
             4000, 500, "--arch", "llama"),
    _microgpt("microgpt-shakespeare", "microgpt's GPT (chapters 4 and 5), the same shape", "shakespeare-small",
              "shakespeare-small", full=_MICROGPT_FULL),
    # chapter 4's pair: the seed's block against the corrected one, all else equal
    _microgpt("microgpt-pair", "microgpt's corrected block (chapter 4), width 128", "shakespeare-pair",
              "shakespeare-pair"),
    _microgpt("microgpt-pair-seed", "the seed's block (chapter 4), width 128", "shakespeare-pair-seed",
              "shakespeare-pair"),
    # chapter 6's pair: the GELU MLP against the seed's linear one, all else equal
    _babygpt("babygpt-pair", "babygpt's GELU MLP (chapter 6), width 128", "shakespeare-pair", 800, 200),
    _babygpt("babygpt-pair-linear-mlp", "the seed's linear MLP (chapter 6), width 128",
             "shakespeare-pair-linear-mlp", 800, 200),
    # chapter 7's base model: it has never read the play it is fine-tuned on
    _babygpt("babygpt-before-shrew", "babygpt's GPT (chapter 7), trained on every play before the Shrew",
             "shakespeare-small", 2000, corpus="tinyshakespeare-before-shrew"),
)}


def course_model(name: str) -> CourseModel:
    if name not in COURSE_MODELS:
        raise CourseModelError(f"no course model {name!r}: the course models are {sorted(COURSE_MODELS)}")
    return COURSE_MODELS[name]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_manifest() -> dict:
    """``{model name: {file name: sha256}}`` of the stored models."""
    return json.loads(MANIFEST.read_text(encoding="utf-8")) if MANIFEST.exists() else {}


def path(name: str) -> Path:
    """The folder of course model ``name``, after checking every file against the manifest."""
    course_model(name)
    expected = read_manifest().get(name)
    folder = MODELS_DIR / name
    recreate = f"re-create it with `./dev models {name}` (or restore it with `git checkout -- {folder}`)"
    if expected is None:
        raise CourseModelError(f"course model {name!r} is not in {MANIFEST}: {recreate}")
    for file, digest in expected.items():
        if not (folder / file).exists():
            raise CourseModelError(f"course model {name!r} has no {file} in {folder}: {recreate}")
        found = sha256(folder / file)
        if found != digest:
            raise CourseModelError(
                f"course model {name!r}: {folder / file} has sha256 {found[:12]}..., the manifest says "
                f"{digest[:12]}...: the file is corrupt or was changed; {recreate}"
            )
    return folder


def record(name: str) -> dict:
    """The record of how course model ``name`` was made (its folder checked first)."""
    return json.loads((path(name) / RECORD_FILE).read_text(encoding="utf-8"))


def config_json(name: str) -> dict:
    """The stored ``config.json`` of course model ``name`` (its folder checked first)."""
    return json.loads((path(name) / "config.json").read_text(encoding="utf-8"))


def flag(model: CourseModel, name: str, default: str | None = None) -> str | None:
    """The value a recipe gives a command-line flag, e.g. ``flag(model, "--config")``."""
    return model.args[model.args.index(name) + 1] if name in model.args else default


def command_line(record_: dict) -> str:
    """A record's command as a reader would type it: the output folder, a path on the machine
    that ran it, written as ``<folder>``."""
    recipe, _, _ = record_["command"].partition(" --out ")
    return f"{recipe} --out <folder>"


def stored_size_bytes() -> int:
    """Bytes of every course model's files together (the budget is ``SIZE_BUDGET_BYTES``)."""
    return sum((MODELS_DIR / name / file).stat().st_size
               for name, files in read_manifest().items() for file in files)


def validation_ids(corpus: str, tokenizer) -> np.ndarray:
    """The validation split (the last 10 %) of ``corpus`` encoded by ``tokenizer``, as both
    trainers make it."""
    return train_val_split(tokenizer.encode(load_text(corpus)), 0.1)[1]


def validation_windows(ids: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """The whole validation text as non-overlapping windows: ``(x, y)``, each (n, context) int64,
    ``y`` = ``x`` shifted by one; the tail shorter than a window is dropped.

    Every token of the split is predicted once, so the mean loss over these windows is the
    model's loss on the validation text (each window starting from an empty context).
    """
    ids = np.asarray(ids, dtype=np.int64)
    n = (len(ids) - 1) // context
    if n < 1:
        raise ValueError(f"{len(ids)} validation tokens do not fill one window of context {context} + 1")
    x = ids[: n * context].reshape(n, context)
    y = ids[1: n * context + 1].reshape(n, context)
    return x, y


def smoothed_training_loss(record_: dict, window: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, loss)``: a record's per-step training loss as a running mean over ``window``
    steps (one batch's loss is noisy), at the step that ends each window."""
    loss = np.asarray(record_["log"]["loss"], dtype=np.float64)
    window = max(1, min(window, len(loss)))
    mean = np.convolve(loss, np.ones(window) / window, mode="valid")
    return np.arange(window, len(loss) + 1), mean


def plot_record(ax, record_: dict, label: str, window: int = 50) -> None:
    """A course model's training curve (smoothed) and validation losses from its record."""
    steps, loss = smoothed_training_loss(record_, window)
    line, = ax.plot(steps, loss, alpha=0.6, label=f"{label}: training (mean of {window} steps)")
    evaluations = record_["evaluations"]
    ax.plot([e["step"] for e in evaluations], [e["val_loss"] for e in evaluations], "o-", color=line.get_color(),
            label=f"{label}: validation")
