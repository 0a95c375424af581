"""babygpt.checkpoint: GPT weights through lmbase's safetensors + JSON format and back."""

import json
import re

import pytest
import torch

from babygpt.checkpoint import load_model, save_model
from babygpt.model import GPT, GPTConfig
from lmbase.checkpoint import CheckpointError, save_checkpoint


def test_gpt_round_trip_gives_identical_logits_and_keeps_the_tied_head(tmp_path):
    model = GPT(GPTConfig.named("tiny"), seed=7)
    save_model(tmp_path / "ckpt", model, extra_config={"corpus": "tinyshakespeare"})
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["model_type"] == "babygpt" and config["n_layer"] == 2 and config["corpus"] == "tinyshakespeare"
    loaded, _ = load_model(tmp_path / "ckpt", expected=model.config)
    assert loaded.head.weight is loaded.tok_emb.weight
    ids = torch.randint(0, 65, (2, 64), generator=torch.Generator().manual_seed(0))
    assert torch.equal(loaded(ids), model(ids))


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path):
    save_model(tmp_path / "ckpt", GPT(GPTConfig.named("tiny")))
    with pytest.raises(CheckpointError, match="n_layer=2, this one expects n_layer=3"):
        load_model(tmp_path / "ckpt", expected=GPTConfig.named("tiny", n_layer=3))
    # A config.json that lies about the tensors is caught by their shapes.
    tensors = {n: p.detach().numpy() for n, p in GPT(GPTConfig.named("tiny", d_model=32)).named_parameters()}
    save_checkpoint(tmp_path / "bad", tensors, {"model_type": "babygpt", **GPTConfig.named("tiny").to_dict()})
    with pytest.raises(CheckpointError, match="tensor 'tok_emb.weight' has shape"):
        load_model(tmp_path / "bad")


def test_llama_round_trip_gives_identical_logits(tmp_path):
    from babygpt.llama import Llama, LlamaConfig

    model = Llama(LlamaConfig.named("tiny"), seed=3)
    save_model(tmp_path / "ckpt", model)
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["model_type"] == "babygpt-llama"
    loaded, _ = load_model(tmp_path / "ckpt", expected=model.config)
    ids = torch.randint(0, 65, (2, 16), generator=torch.Generator().manual_seed(0))
    assert isinstance(loaded, Llama) and torch.equal(loaded(ids), model(ids))
    with pytest.raises(CheckpointError, match="holds a babygpt-llama model, not a GPTConfig"):
        load_model(tmp_path / "ckpt", expected=GPTConfig.named("tiny"))


def test_a_config_json_without_a_field_names_the_file_and_the_way_to_recover(tmp_path):
    save_model(tmp_path / "ckpt", GPT(GPTConfig.named("tiny")))
    path = tmp_path / "ckpt" / "config.json"
    data = json.loads(path.read_text())
    del data["n_head"]
    path.write_text(json.dumps(data))
    where = re.escape(str(path))
    with pytest.raises(CheckpointError, match=f"{where} has no n_head, which a GPTConfig needs: .*delete the folder"):
        load_model(tmp_path / "ckpt")
    path.write_text(json.dumps({**data, "n_head": 3}))
    with pytest.raises(CheckpointError, match=f"{where} does not describe a valid GPTConfig: d_model=64 is not "):
        load_model(tmp_path / "ckpt")


@pytest.mark.parametrize("kind", ["gpt", "llama", "microgpt"])
def test_every_model_loads_float16_files_through_one_loop_that_checks_names_and_shapes(tmp_path, kind):
    from babygpt.checkpoint import model_tensors
    from babygpt.llama import Llama, LlamaConfig
    from babygpt.microgpt_arch import MicroGPT, MicroGPTConfig

    model = {"gpt": lambda: GPT(GPTConfig.named("tiny"), seed=1), "llama": lambda: Llama(LlamaConfig.named("tiny")),
             "microgpt": lambda: MicroGPT(MicroGPTConfig.named("tiny"), seed=1)}[kind]()
    tensors, config = model_tensors(model)
    half = {name: value.astype("float16") for name, value in tensors.items()}
    save_checkpoint(tmp_path / "half", half, config)
    loaded, _ = load_model(tmp_path / "half", expected=model.config)
    for name, p in loaded.named_parameters():
        assert p.dtype == torch.float32 and torch.equal(p, torch.from_numpy(half[name].astype("float32"))), name
    name = sorted(half)[0]
    save_checkpoint(tmp_path / "short", {k: v for k, v in half.items() if k != name}, config)
    with pytest.raises(CheckpointError, match=f"does not fit this model: missing \\['{re.escape(name)}'\\]"):
        load_model(tmp_path / "short")
