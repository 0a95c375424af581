"""Atomic checkpoints that keep the files beside them, errors that name a damaged file, the seeds' claims."""

import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from lmbase import checkpoint
from lmbase.checkpoint import CheckpointError, check_shapes, config_from_fields, load_checkpoint, save_checkpoint
from lmbase.claims import VERDICTS, check_claim, claims_table, load_claims


def test_checkpoint_round_trip_with_extra_parts(tmp_path):
    tensors = {"wte": np.arange(12, dtype=np.float32).reshape(3, 4)}
    extra = {"optimizer": ({"m": np.ones(5)}, {"step": 7})}
    save_checkpoint(tmp_path / "ckpt", tensors, {"d_model": 4}, extra)
    loaded, config, parts = load_checkpoint(tmp_path / "ckpt", ("optimizer",))
    assert np.array_equal(loaded["wte"], tensors["wte"]) and loaded["wte"].dtype == np.float32
    assert config == {"d_model": 4}
    assert parts["optimizer"][1] == {"step": 7} and np.array_equal(parts["optimizer"][0]["m"], np.ones(5))


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "ckpt", {"w": np.zeros(2)}, {"step": 1})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "ckpt", {"w": np.ones(2)}, {"step": 2})
    tensors, config, _ = load_checkpoint(tmp_path / "ckpt")
    assert config == {"step": 1} and np.array_equal(tensors["w"], np.zeros(2))
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]  # no half-written folder left behind


def test_saving_keeps_every_file_it_did_not_write_and_drops_the_old_checkpoints_parts(tmp_path):
    folder = tmp_path / "ckpt"
    save_checkpoint(folder, {"w": np.zeros(2)}, {"step": 1}, {"optimizer": ({"m": np.zeros(2)}, {"step": 1})})
    (folder / "notes.txt").write_text("lr 3e-4 diverged at step 900")
    save_file({"lora_A": np.ones(2)}, folder / "adapter.safetensors")  # a safetensors file of the user's own
    (folder / "samples").mkdir()
    (folder / "samples" / "step1.txt").write_text("ROMEO:")
    save_checkpoint(folder, {"w": np.ones(2)}, {"step": 2})
    assert (folder / "notes.txt").read_text() == "lr 3e-4 diverged at step 900"
    assert (folder / "samples" / "step1.txt").read_text() == "ROMEO:" and (folder / "adapter.safetensors").exists()
    # The old checkpoint's optimizer part is gone with it: a resume cannot pair new weights with old moments.
    assert sorted(p.name for p in folder.iterdir()) == [
        "adapter.safetensors", "config.json", "model.safetensors", "notes.txt", "samples"]
    with pytest.raises(CheckpointError, match="has no 'optimizer' part"):
        load_checkpoint(folder, ("optimizer",))


def test_a_checkpoints_parts_are_its_file_pairs_and_a_save_removes_them_only(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    for name, tensors in (("model", {"w": np.zeros(2)}), ("optimizer", {"m": np.zeros(2)})):
        save_file(tensors, folder / f"{name}.safetensors")
    (folder / "optimizer.json").write_text('{"step": 1}')
    (folder / "config.json").write_text('{"step": 1}')
    (folder / "notes.txt").write_text("mine")
    (folder / "results.json").write_text("{}")  # a .json with no .safetensors of its name is not a part
    save_file({"x": np.ones(1)}, folder / "probe.safetensors")  # nor a .safetensors with no .json
    assert load_checkpoint(folder, ("optimizer",))[2]["optimizer"][1] == {"step": 1}
    save_checkpoint(folder, {"w": np.ones(2)}, {"step": 2})
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "notes.txt",
                                                        "probe.safetensors", "results.json"]


def interrupt_the_kth_step(k: int, patch, power_cut: bool) -> None:
    """Make the k-th file operation of a save fail: a write leaves half its file, then it raises.

    A ``power_cut`` also skips the clean-up an exception would run (a dead process runs nothing).
    """
    calls = []

    def interrupted(function, path_argument=None):
        def step(*args, **kwargs):
            calls.append(function)
            if len(calls) != k:
                return function(*args, **kwargs)
            if path_argument is not None:  # the file is written, then cut in half
                function(*args, **kwargs)
                path = Path(args[path_argument])
                path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
            raise OSError(f"interrupted at step {k}")
        return step

    patch.setattr(checkpoint, "save_file", interrupted(checkpoint.save_file, path_argument=1))
    patch.setattr(checkpoint, "_write_json", interrupted(checkpoint._write_json, path_argument=0))
    patch.setattr(checkpoint, "_fsync", interrupted(checkpoint._fsync))
    patch.setattr(checkpoint.os, "replace", interrupted(os.replace))
    patch.setattr(Path, "unlink", interrupted(Path.unlink))
    patch.setattr(Path, "rmdir", interrupted(Path.rmdir))
    if power_cut:
        patch.setattr(checkpoint.shutil, "rmtree", lambda *args, **kwargs: None)


@pytest.mark.parametrize("power_cut", [False, True], ids=["error", "power-cut"])
def test_an_interruption_at_any_step_of_a_save_leaves_the_old_or_the_new_checkpoint(tmp_path, monkeypatch, power_cut):
    old = ({"w": np.zeros(3)}, {"step": 1}, {"optimizer": ({"m": np.full(2, 5.0)}, {"step": 1})})
    new = ({"w": np.ones(3)}, {"step": 2}, {"ema": ({"w": np.full(3, 7.0)}, None)})
    outcomes = []
    for k in itertools.count(1):
        folder = tmp_path / f"interrupted-at-{k}" / "ckpt"
        save_checkpoint(folder, *old)
        (folder / "notes.txt").write_text("keep me")
        with monkeypatch.context() as patch:
            interrupt_the_kth_step(k, patch, power_cut)
            try:
                save_checkpoint(folder, *new)
                finished = True
            except OSError:
                finished = False
        tensors, config, _ = load_checkpoint(folder)
        outcomes.append(config["step"])
        if config["step"] == 1:  # the old checkpoint, whole
            assert np.array_equal(tensors["w"], np.zeros(3))
            assert np.array_equal(load_checkpoint(folder, ("optimizer",))[2]["optimizer"][0]["m"], np.full(2, 5.0))
        else:  # the new one, whole, without the old one's parts
            assert np.array_equal(tensors["w"], np.ones(3))
            assert np.array_equal(load_checkpoint(folder, ("ema",))[2]["ema"][0]["w"], np.full(3, 7.0))
            with pytest.raises(CheckpointError, match="no 'optimizer' part"):
                load_checkpoint(folder, ("optimizer",))
        assert (folder / "notes.txt").read_text() == "keep me"
        # The next save finishes (or discards) whatever the interrupted one left, and tidies up.
        save_checkpoint(folder, {"w": np.full(3, 2.0)}, {"step": 3})
        assert load_checkpoint(folder)[1] == {"step": 3}
        assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "notes.txt"]
        assert sorted(os.listdir(folder.parent)) == ["ckpt"]
        if finished:
            break
    # Every step was interrupted once: the old checkpoint until the commit point, the new one after it.
    assert len(outcomes) > 10 and outcomes[0] == 1 and outcomes[-1] == 2 and outcomes == sorted(outcomes)


def test_corrupt_or_truncated_files_are_named_with_the_way_to_recover(tmp_path):
    folder = tmp_path / "ckpt"
    save_checkpoint(folder, {"w": np.zeros(100)}, {"step": 1}, {"optimizer": ({"m": np.zeros(2)}, {"step": 1})})
    model = (folder / "model.safetensors").read_bytes()
    recover = f"re-save the checkpoint from the model that wrote it, or delete the folder {folder} and train again"
    for damaged in (model[: len(model) // 2], model[:5], b"", b"x" * 100):
        (folder / "model.safetensors").write_bytes(damaged)
        with pytest.raises(CheckpointError) as error:
            load_checkpoint(folder)
        assert str(error.value).startswith(f"{folder / 'model.safetensors'} is not a readable safetensors file")
        assert "truncated or corrupted" in str(error.value) and str(error.value).endswith(recover)
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=re.escape(f"{folder / 'model.safetensors'} is missing: the checkpoint is ")):
        load_checkpoint(folder)
    save_checkpoint(folder, {"w": np.zeros(100)}, {"step": 1}, {"optimizer": ({"m": np.zeros(2)}, {"step": 1})})
    (folder / "optimizer.json").write_text('{"step": ')
    load_checkpoint(folder)  # the model alone still loads
    with pytest.raises(CheckpointError, match=f"{re.escape(str(folder / 'optimizer.json'))} is not valid JSON"):
        load_checkpoint(folder, ("optimizer",))
    for damaged in (b'{"step": 1', b"\xff\xfe\x00", b"[1, 2]"):
        (folder / "config.json").write_bytes(damaged)
        with pytest.raises(CheckpointError, match="config.json (is not valid JSON|holds a JSON list)") as error:
            load_checkpoint(folder)
        assert str(error.value).endswith(recover)


@dataclass(frozen=True)
class Shape:
    n_head: int
    d_model: int = 8

    def __post_init__(self):
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_head={self.n_head}")


def test_a_config_json_without_a_field_or_with_a_refused_value_names_the_file(tmp_path):
    source = tmp_path / "ckpt" / "config.json"
    assert config_from_fields(Shape, {"n_head": 2, "model_type": "x"}, source) == Shape(2)
    where = re.escape(str(source))
    with pytest.raises(CheckpointError, match=f"^{where} has no n_head, which a Shape needs: .* delete the folder "):
        config_from_fields(Shape, {"d_model": 8}, source)
    with pytest.raises(CheckpointError, match=f"{where} does not describe a valid Shape: d_model=8 is not divisible"):
        config_from_fields(Shape, {"n_head": 3}, source)


def test_missing_checkpoint_and_wrong_shapes_are_explained(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nothing")
    with pytest.raises(CheckpointError, match=r"'wte' has shape \(3, 4\), this model expects \(5, 4\)"):
        check_shapes({"wte": (5, 4)}, {"wte": (3, 4)}, "ckpt")
    with pytest.raises(CheckpointError, match="missing"):
        check_shapes({"wte": (5, 4), "wpe": (2, 4)}, {"wte": (5, 4)}, "ckpt")


def test_claims_file_is_well_formed():
    claims = load_claims()
    assert claims and all(c.verdict in VERDICTS for c in claims)
    assert len({c.id for c in claims}) == len(claims)
    table = claims_table(claims)
    assert table.count("\n") == len(claims) + 1


def test_check_claim_fails_on_a_stale_number():
    claim = load_claims()[0]
    assert check_claim(claim.id, claim.value) == claim
    with pytest.raises(AssertionError, match="the page quotes"):
        check_claim(claim.id, claim.value + 10 * claim.tolerance + 1)


def test_claims_with_an_unknown_verdict_are_refused(tmp_path):
    bad = tmp_path / "claims.yml"
    bad.write_text(
        "- {id: x, seed: BabyGPT, chapter: c, claim: c, published: p, measured: m, "
        "verdict: plausible, why: w, command: c}\n"
    )
    with pytest.raises(ValueError, match="verdict 'plausible'"):
        load_claims(bad)
