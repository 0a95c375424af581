"""microgpt's course models are what their records say: the stored file reproduces the recorded
validation loss, the recorded command reproduces the recorded first training losses, and the
stored configuration is the named one the command asks for."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lmbase import course_models
from lmbase.microgpt_config import config_from_json
from microgpt.course_models import load, training_log, validation_ids, validation_loss
from microgpt.model import GPTConfig

ROOT = Path(__file__).resolve().parents[2]
NAMES = [name for name, model in course_models.COURSE_MODELS.items() if model.package == "microgpt"]


@pytest.mark.parametrize("name", NAMES)
def test_the_stored_model_reproduces_its_recorded_validation_loss(name):
    params, config, tokenizer = load(name)
    recorded = course_models.record(name)["validation"]["val_loss"]
    corpus = course_models.flag(course_models.course_model(name), "--corpus")
    measured = validation_loss(params, config, validation_ids(corpus, tokenizer))
    assert abs(measured - recorded) < 1e-3, f"{name}: {measured:.5f} against the recorded {recorded:.5f}"


@pytest.mark.parametrize("name", NAMES)
def test_the_recorded_command_reproduces_the_first_training_losses(name, tmp_path):
    model = course_models.course_model(name)
    run = tmp_path / "run"
    subprocess.run([sys.executable, *model.command(run), "--stop-at", "3"], cwd=ROOT, check=True,
                   capture_output=True)
    losses, _ = training_log(run)
    recorded = course_models.record(name)["log"]["loss"][:3]
    # the record rounds to 5 decimals; other thread counts may reorder float32 sums
    np.testing.assert_allclose(losses, recorded, atol=5e-4)


@pytest.mark.parametrize("name", NAMES)
def test_the_stored_configuration_is_the_named_one(name):
    model = course_models.course_model(name)
    named = GPTConfig.named(course_models.flag(model, "--config"), vocab_size=65)
    assert config_from_json(course_models.config_json(name)) == named
