"""Checkpoints: the shared safetensors + JSON format, self-describing, checked on load."""

import json
import re

import jax
import numpy as np
import pytest
from safetensors.numpy import load_file

from lmbase.checkpoint import CheckpointError
from microgpt import checkpoint
from microgpt.model import GPTConfig, init_params, seed_config


def test_round_trip_and_names(tmp_path):
    config = GPTConfig(vocab_size=20, context=8, n_layer=2, n_head=2, d_model=16, dropout=0.1)
    params = init_params(config, seed=3)
    checkpoint.save(tmp_path / "ck", params, config, tokenizer_chars="abc")
    loaded, loaded_config, data = checkpoint.load(tmp_path / "ck", expected=config)
    assert loaded_config == config
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(loaded)):
        np.testing.assert_array_equal(a, b)
    # readable without JAX: plain safetensors with the documented names and (in, out) shapes
    tensors = load_file(tmp_path / "ck" / "model.safetensors")
    assert tensors["embed"].shape == (20, 16)
    assert tensors["blocks.1.attn.w_q"].shape == (16, 16)
    assert tensors["blocks.0.ffn.w_in"].shape == (16, 64)
    assert tensors["blocks.0.ffn.b_out"].shape == (16,)
    assert tensors["ln_f.scale"].shape == (16,)
    assert "blocks.0.ln2.bias" in tensors
    assert len(tensors) == 1 + 2 + 2 * (2 + 4 + 2 + 4)  # embed, ln_f, per block ln1 attn ln2 ffn
    on_disk = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert on_disk["model_type"] == "microgpt" and on_disk["block"] == "pre_norm"
    assert on_disk["tokenizer"] == {"type": "char", "chars": "abc"}
    assert data["tokenizer"]["chars"] == "abc"


def test_seed_architecture_has_no_second_norm(tmp_path):
    config = seed_config(20, 16, n_layer=2, n_head=2, context=8)
    checkpoint.save(tmp_path / "s", init_params(config), config)
    names = set(load_file(tmp_path / "s" / "model.safetensors"))
    assert "blocks.0.ln2.scale" not in names and "ln_f.scale" not in names


def test_other_configuration_is_refused(tmp_path):
    config = GPTConfig(vocab_size=20, context=8, n_layer=2, n_head=2, d_model=16)
    checkpoint.save(tmp_path / "ck", init_params(config), config)
    with pytest.raises(CheckpointError, match="saved with n_layer=2, this model has n_layer=3"):
        checkpoint.load(tmp_path / "ck", expected=GPTConfig(vocab_size=20, context=8, n_layer=3, n_head=2, d_model=16))
    # a tensor whose shape does not fit the config is named
    wrong = GPTConfig(vocab_size=21, context=8, n_layer=2, n_head=2, d_model=16)
    tensors = checkpoint.flatten_params(init_params(config))
    with pytest.raises(CheckpointError, match="'embed' has shape \\(20, 16\\)"):
        checkpoint.unflatten_params(tensors, wrong)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"model_type": "llama"}')
    (tmp_path / "other" / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a microgpt checkpoint"):
        checkpoint.config_from_json({"model_type": "llama"})


def test_a_damaged_checkpoint_names_the_file_and_the_way_to_recover(tmp_path):
    config = GPTConfig(vocab_size=20, context=8, n_layer=1, n_head=2, d_model=16)
    checkpoint.save(tmp_path / "ck", init_params(config), config)
    data = json.loads((tmp_path / "ck" / "config.json").read_text())
    del data["n_head"]
    (tmp_path / "ck" / "config.json").write_text(json.dumps(data))
    folder = re.escape(str(tmp_path / "ck"))
    with pytest.raises(CheckpointError, match=f"{folder}/config.json has no n_head, which a GPTConfig needs: "
                                              f".*delete the folder {folder} and train again"):
        checkpoint.load(tmp_path / "ck")
    (tmp_path / "ck" / "config.json").write_text(json.dumps(data)[:-10])
    with pytest.raises(CheckpointError, match="config.json is not valid JSON"):
        checkpoint.load(tmp_path / "ck")
    checkpoint.save(tmp_path / "ck", init_params(config), config)
    (tmp_path / "ck" / "model.safetensors").write_bytes((tmp_path / "ck" / "model.safetensors").read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="model.safetensors is not a readable safetensors file"):
        checkpoint.load(tmp_path / "ck")
