"""Train the course models again and store each with its record (``./dev models``).

    python tools/course_models.py [NAME ...]             train and store (default: every model)
    python tools/course_models.py --full [NAME ...]      the full-size recipe, for a GPU: records only
    python tools/course_models.py --store-only NAME ...  store a finished run in runs/course-models/NAME

Each model is trained by its package's own command line (``lmbase.course_models.COURSE_MODELS``)
into ``runs/course-models/<name>/checkpoint``, with ``run.json`` beside it (command, start, wall
time, commit, machine, versions). Storing writes the float16 model and ``record.json`` (that run,
the training log, the validation loss of the stored file) to ``lmbase/models/<name>/`` and the
sha256 of its files to ``lmbase/models/MANIFEST.json``. A full-size run (``--full``) keeps its
weights in ``runs/`` and writes only its record, to ``lmbase/models/full-size/<name>.json``:
those models are larger than the repository's size budget.
"""

import argparse
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lmbase import course_models  # noqa: E402  (after the path: run as a script from anywhere)

RUNS = ROOT / "runs" / "course-models"
FULL_RECORDS = course_models.MODELS_DIR / "full-size"
VERSIONS = {"babygpt": ("torch", "numpy"), "microgpt": ("jax", "jaxlib", "optax", "numpy")}
ACCELERATOR = {
    "babygpt": "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'none')",
    "microgpt": "import jax; d = jax.devices()[0]; print('none' if d.platform == 'cpu' else d.device_kind)",
}


def git(*args) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_and_versions(package: str) -> dict:
    """Where a run happens: the CPU, its cores, the accelerator, the OS, the package versions."""
    accelerator = subprocess.run([sys.executable, "-c", ACCELERATOR[package]], capture_output=True, text=True)
    return {
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
                    "accelerator": accelerator.stdout.strip() or "unknown"},
        "versions": {"python": platform.python_version(),
                     **{name: importlib.metadata.version(name) for name in VERSIONS[package]}},
    }


def run_facts(model: course_models.CourseModel, args: list[str], started: float, wall_time_s: float) -> dict:
    """What ``run.json`` says of a training run."""
    changed = git("status", "--porcelain", "--", "lmbase", "babygpt", "microgpt", ":!lmbase/models")
    return {
        "command": " ".join(["python", *args]),
        "started_utc": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(wall_time_s, 1),
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(changed),
        **machine_and_versions(model.package),
    }


def train(model: course_models.CourseModel, full: bool) -> Path:
    """Run the model's command line into ``runs/course-models/<name>``; returns that folder."""
    run = RUNS / (model.name + ("-full" if full else ""))
    run.mkdir(parents=True, exist_ok=True)
    out = run / "checkpoint"
    args = (model.full_command if full else model.command)(out.relative_to(ROOT) if out.is_relative_to(ROOT) else out)
    print(f"{model.name}: python {' '.join(args)}", flush=True)
    started = time.time()
    with open(run / "train.log", "w") as log:
        subprocess.run([sys.executable, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)
    facts = run_facts(model, ["python", *args][1:], started, time.time() - started)
    (run / "run.json").write_text(json.dumps(facts, indent=2) + "\n")
    return run


def store(model: course_models.CourseModel, run: Path, full: bool) -> dict:
    """Write the stored model (or, for a full-size run, only its record) and update the manifest."""
    package = importlib.import_module(f"{model.package}.course_models")
    losses, evaluations = package.training_log(run / "checkpoint")
    folder = course_models.MODELS_DIR / model.name
    scratch = run / "stored"
    corpus = course_models.flag(model, "--corpus")
    measured = package.store(run / "checkpoint", scratch if full else folder, corpus)
    record = {
        "name": model.name,
        "about": model.about,
        **json.loads((run / "run.json").read_text()),
        "seed": 0,
        "steps": len(losses),
        "parameters": measured["parameters"],
        "stored_dtype": "float16",
        "validation": {
            "text": f"the last 10 % of {corpus}, in non-overlapping windows of the model's context",
            "val_loss_float32": round(measured["val_loss_float32"], 6),
            "val_loss": round(measured["val_loss"], 6),
        },
        "evaluations": [{k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}
                        for row in evaluations],
        "log": {"every": 1, "loss": [round(loss, 5) for loss in losses]},
    }
    if full:
        FULL_RECORDS.mkdir(parents=True, exist_ok=True)
        (FULL_RECORDS / f"{model.name}.json").write_text(json.dumps(record, indent=1) + "\n")
        return record
    (folder / course_models.RECORD_FILE).write_text(json.dumps(record, indent=1) + "\n")
    manifest = course_models.read_manifest()
    manifest[model.name] = {file: course_models.sha256(folder / file) for file in course_models.STORED_FILES}
    course_models.MANIFEST.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
    return record


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*",
                        help=f"models to make (default: all of {sorted(course_models.COURSE_MODELS)})")
    parser.add_argument("--full", action="store_true", help="the full-size recipe (a GPU's): store records only")
    parser.add_argument("--store-only", action="store_true", help="store finished runs, train nothing")
    args = parser.parse_args(argv)
    models = [course_models.course_model(n) for n in args.names] or list(course_models.COURSE_MODELS.values())
    if args.full:
        models = [m for m in models if m.full_args]
        if not models:
            parser.error("none of these models has a full-size recipe")
    for model in models:
        run = RUNS / (model.name + ("-full" if args.full else "")) if args.store_only else train(model, args.full)
        record = store(model, run, args.full)
        print(f"{model.name}: {record['parameters']:,} parameters, {record['steps']} steps in "
              f"{record['wall_time_s']:.0f} s, validation loss {record['validation']['val_loss']:.4f}", flush=True)
    if not args.full:
        size = course_models.stored_size_bytes()
        print(f"course models: {size / 2**20:.1f} MiB of the {course_models.SIZE_BUDGET_BYTES / 2**20:.0f} MiB budget")


if __name__ == "__main__":
    main()
