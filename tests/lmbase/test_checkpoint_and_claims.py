"""Atomic checkpoints and the seeds' claims file."""

import os

import numpy as np
import pytest

from lmbase import checkpoint
from lmbase.checkpoint import CheckpointError, check_shapes, load_checkpoint, save_checkpoint
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


def test_a_crash_between_the_two_renames_still_loads(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "ckpt", {"w": np.zeros(2)}, {"step": 1})
    real_replace = os.replace
    calls = []

    def crash_on_second_rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("power cut")
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", crash_on_second_rename)
    with pytest.raises(OSError, match="power cut"):
        save_checkpoint(tmp_path / "ckpt", {"w": np.ones(2)}, {"step": 2})
    _, config, _ = load_checkpoint(tmp_path / "ckpt")
    assert config == {"step": 1}


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
