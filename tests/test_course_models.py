"""The course models' command (``./dev models``), their manifest, their size budget and their loader.

The per-model honesty checks (the stored file reproduces its recorded validation loss, the
recorded command reproduces its first training losses) are in tests/babygpt and tests/microgpt.
"""

import json
import shutil

import pytest

from lmbase import course_models
from tools import course_models as tool


def test_every_course_model_is_stored_and_in_the_manifest():
    manifest = course_models.read_manifest()
    assert sorted(manifest) == sorted(course_models.COURSE_MODELS), "run ./dev models for the missing ones"
    for name in manifest:
        assert sorted(manifest[name]) == sorted(course_models.STORED_FILES)
        course_models.path(name)  # every file matches its sha256


def test_the_course_models_fit_the_size_budget():
    size = course_models.stored_size_bytes()
    assert 0 < size <= course_models.SIZE_BUDGET_BYTES, f"{size / 2**20:.1f} MiB is over the 40 MiB budget"


def test_each_record_says_how_its_model_was_made():
    for name, model in course_models.COURSE_MODELS.items():
        record = course_models.record(name)
        assert (record["name"], record["about"]) == (name, model.about)
        assert record["command"].startswith(f"python -m {model.module} {' '.join(model.args)} --out ")
        assert record["steps"] == len(record["log"]["loss"]) > 0
        assert record["evaluations"][-1]["step"] == record["steps"]
        for field in ("commit", "started_utc", "wall_time_s", "machine", "versions", "parameters"):
            assert record[field], f"{name}: the record has no {field}"
        assert not record["uncommitted_changes"], f"{name} was trained from uncommitted code"
        # float16 storage loses nothing measurable
        validation = record["validation"]
        assert abs(validation["val_loss"] - validation["val_loss_float32"]) < 2e-3


def point_at(monkeypatch, models, runs, recipes):
    """The course-model machinery pointed at ``models`` and ``runs``, knowing only ``recipes``."""
    monkeypatch.setattr(course_models, "MODELS_DIR", models)
    monkeypatch.setattr(course_models, "MANIFEST", models / "MANIFEST.json")
    monkeypatch.setattr(tool, "RUNS", runs)
    monkeypatch.setattr(course_models, "COURSE_MODELS", {m.name: m for m in recipes})


TINY = course_models._babygpt("tiny-test", "a tiny babygpt model for these tests", "tiny", 4, 2)
TINY_JAX = course_models._microgpt("tiny-jax-test", "a tiny microgpt model for these tests", "tiny", "tiny")


@pytest.fixture(scope="module")
def made_zoo(tmp_path_factory):
    """A tiny model of each package made by the command, as ``./dev models`` would: (models, runs)."""
    root = tmp_path_factory.mktemp("zoo")
    with pytest.MonkeyPatch.context() as monkeypatch:
        point_at(monkeypatch, root / "models", root / "runs", [TINY, TINY_JAX])
        tool.main([])
    return root / "models", root / "runs"


@pytest.fixture
def scratch_zoo(made_zoo, tmp_path, monkeypatch):
    """A copy of the made zoo that a test may damage."""
    models = tmp_path / "models"
    shutil.copytree(made_zoo[0], models)
    point_at(monkeypatch, models, made_zoo[1], [TINY, TINY_JAX])
    return models


@pytest.mark.parametrize("name, framework, evaluated_at", [("tiny-test", "torch", [2, 4]),
                                                           ("tiny-jax-test", "jax", [25, 50])])
def test_the_command_trains_and_stores_a_model_with_its_record(scratch_zoo, name, framework, evaluated_at):
    record = course_models.record(name)
    assert record["steps"] == evaluated_at[-1] == len(record["log"]["loss"])
    assert [e["step"] for e in record["evaluations"]] == evaluated_at
    assert record["command"].endswith(f"--out {tool.RUNS / name / 'checkpoint'}")
    assert record["machine"]["cores"] >= 1 and framework in record["versions"]
    # the stored float16 file, read back, gives the validation loss the record states
    assert abs(record["validation"]["val_loss"] - record["validation"]["val_loss_float32"]) < 1e-2
    manifest = json.loads((scratch_zoo / "MANIFEST.json").read_text())
    assert sorted(manifest[name]) == sorted(course_models.STORED_FILES)


def test_a_corrupt_or_missing_file_is_refused_with_the_fix(scratch_zoo):
    weights = scratch_zoo / "tiny-test" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(course_models.CourseModelError, match=r"corrupt.*\./dev models tiny-test"):
        course_models.path("tiny-test")
    weights.unlink()
    with pytest.raises(course_models.CourseModelError, match="has no model.safetensors"):
        course_models.path("tiny-test")


def test_an_unknown_or_unstored_model_names_the_known_ones(tmp_path, monkeypatch):
    point_at(monkeypatch, tmp_path / "models", tmp_path / "runs", [TINY, TINY_JAX])
    with pytest.raises(course_models.CourseModelError, match=r"no course model 'gpt-9'.*tiny-test"):
        course_models.path("gpt-9")
    with pytest.raises(course_models.CourseModelError, match="not in"):
        course_models.path("tiny-test")


def test_validation_windows_cover_the_text_once():
    ids = list(range(23))
    x, y = course_models.validation_windows(ids, 5)
    assert x.shape == y.shape == (4, 5)
    assert x.ravel().tolist() == list(range(20)) and y.ravel().tolist() == list(range(1, 21))
    with pytest.raises(ValueError, match="do not fill one window"):
        course_models.validation_windows(ids[:5], 5)


def test_the_smoothed_training_loss_is_a_running_mean_ending_at_each_window():
    record = {"log": {"loss": [4.0, 2.0, 3.0, 1.0]}}
    steps, loss = course_models.smoothed_training_loss(record, window=2)
    assert steps.tolist() == [2, 3, 4] and loss.tolist() == [3.0, 2.5, 2.0]


def test_the_command_line_hides_only_the_runs_folder():
    record = {"command": "python -m babygpt.train --config tiny --steps 4 --out /some/run/folder"}
    assert course_models.command_line(record) == "python -m babygpt.train --config tiny --steps 4 --out <folder>"
