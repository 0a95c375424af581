"""babygpt.llama_checkpoints: llama2.c .bin (versions 0, 1 and 2, Q8_0) and Hugging Face safetensors +
config.json, each round-tripped, checked against a writer built here from the format's spec, and
against files written by transformers' save_pretrained."""

import json
import os
import struct

import numpy as np
import pytest
import torch

from babygpt.llama import Llama, LlamaConfig, build_rope_cache
from babygpt.llama_checkpoints import load_hf, load_llama2c, read_llama2c, save_hf, save_llama2c
from lmbase.checkpoint import CheckpointError

os.environ["HF_HUB_OFFLINE"] = "1"


def tiny(**overrides):
    return LlamaConfig.named("tiny", **overrides)


def same_model(a: Llama, b: Llama):
    assert a.config == b.config
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb), na
    ids = torch.randint(0, a.config.vocab_size, (2, 16))
    with torch.no_grad():
        assert torch.equal(a(ids), b(ids))


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("tied", [False, True])
def test_llama2c_round_trip(tmp_path, version, tied):
    model = Llama(tiny(tie_embeddings=tied), seed=7)
    save_llama2c(model, tmp_path / "model.bin", version=version)
    loaded = load_llama2c(tmp_path / "model.bin")
    same_model(model, loaded)
    assert (loaded.output.weight is loaded.tok_embeddings.weight) == tied


def test_llama2c_reads_a_file_written_from_the_spec(tmp_path):
    # llama2.c's export.py legacy_export, written out independently of the package's writer.
    config = tiny(tie_embeddings=True)
    model = Llama(config, seed=8)
    p = {n: t.detach().numpy() for n, t in model.named_parameters()}
    L = range(config.n_layer)
    rope = build_rope_cache(config.context, config.head_dim).numpy()
    arrays = [p["tok_embeddings.weight"]]
    for key in ("attention_norm", "attention.wq", "attention.wk", "attention.wv", "attention.wo", "ffn_norm",
                "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"):
        arrays += [p[f"layers.{i}.{key}.weight"] for i in L]
    arrays += [p["norm.weight"], rope[..., 0], rope[..., 1]]
    with open(tmp_path / "spec.bin", "wb") as f:
        f.write(struct.pack("iiiiiii", 64, 172, 2, 4, 2, 65, 64))  # positive vocab: shared classifier
        for a in arrays:
            f.write(a.astype(np.float32).tobytes())
    same_model(model, load_llama2c(tmp_path / "spec.bin"))
    save_llama2c(model, tmp_path / "ours.bin")
    assert (tmp_path / "ours.bin").read_bytes() == (tmp_path / "spec.bin").read_bytes()


def test_llama2c_bad_files_raise(tmp_path):
    save_llama2c(Llama(tiny()), tmp_path / "model.bin")
    data = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "short.bin").write_bytes(data[:-100])
    with pytest.raises(CheckpointError, match="needs .* the file is truncated"):
        read_llama2c(tmp_path / "short.bin")
    bad = bytearray(data)
    bad[16:20] = struct.pack("i", 3)  # n_kv_heads = 3 does not divide n_heads = 4
    (tmp_path / "bad.bin").write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match="n_kv_head=3"):
        read_llama2c(tmp_path / "bad.bin")
    with pytest.raises(ValueError, match="plain LLaMA"):
        save_llama2c(Llama(LlamaConfig.named("babygpt-llama-trainer-seed")), tmp_path / "seed.bin")


def q8_0_spec_file(model: Llama, path, group_size: int) -> None:
    """llama2.c's export.py version2_export (quantize_q80 and the header), written out
    independently of the package's writer."""
    c = model.config
    p = {n: t.detach().float() for n, t in model.named_parameters()}
    L = range(c.n_layer)
    norms = ([p[f"layers.{i}.attention_norm.weight"] for i in L]
             + [p[f"layers.{i}.ffn_norm.weight"] for i in L] + [p["norm.weight"]])
    matrices = [p["tok_embeddings.weight"]]
    for key in ("attention.wq", "attention.wk", "attention.wv", "attention.wo",
                "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"):
        matrices += [p[f"layers.{i}.{key}.weight"] for i in L]
    if not c.tie_embeddings:
        matrices.append(p["output.weight"])
    with open(path, "wb") as f:
        f.write(struct.pack("I", 0x616B3432) + struct.pack("i", 2))
        f.write(struct.pack("iiiiiii", c.d_model, c.hidden_dim, c.n_layer, c.n_head, c.n_kv_head,
                            c.vocab_size, c.context))
        f.write(struct.pack("B", int(c.tie_embeddings)) + struct.pack("i", group_size))
        f.write(b"\0" * (256 - f.tell()))
        for w in norms:
            f.write(w.numpy().astype(np.float32).tobytes())
        for w in matrices:
            groups = w.reshape(-1, group_size)
            scale = groups.abs().max(dim=1).values / 127.0
            f.write(torch.round(groups / scale[:, None]).to(torch.int8).numpy().tobytes())
            f.write(scale.numpy().astype(np.float32).tobytes())


@pytest.mark.parametrize("tied", [False, True])
def test_llama2c_q8_0_matches_the_spec_byte_for_byte_and_reads_back_dequantized(tmp_path, tied):
    from babygpt.quant import quantize

    model = Llama(tiny(tie_embeddings=tied), seed=9)
    q8_0_spec_file(model, tmp_path / "spec.bin", group_size=4)
    save_llama2c(model, tmp_path / "ours.bin", version=2, group_size=4)
    assert (tmp_path / "ours.bin").read_bytes() == (tmp_path / "spec.bin").read_bytes()
    config, tensors, version = read_llama2c(tmp_path / "ours.bin")
    assert version == 2 and config == model.config
    for name, p in model.named_parameters():
        expected = quantize(p, 8, 4).dequantize() if p.ndim == 2 else p
        np.testing.assert_allclose(tensors[name], expected.detach().numpy(), rtol=1e-6, atol=1e-7)
    loaded = load_llama2c(tmp_path / "ours.bin")
    ids = torch.randint(0, 65, (1, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids), model(ids), rtol=0, atol=0.05)


def test_llama2c_q8_0_bad_settings_name_the_fix(tmp_path):
    model = Llama(tiny(), seed=0)
    with pytest.raises(ValueError, match="group_size=64 does not divide the 172 input features"):
        save_llama2c(model, tmp_path / "a.bin", version=2)  # hidden_dim 172
    with pytest.raises(ValueError, match="group_size=4 only applies to version 2"):
        save_llama2c(model, tmp_path / "a.bin", version=1, group_size=4)
    save_llama2c(model, tmp_path / "q.bin", version=2, group_size=4)
    data = bytearray((tmp_path / "q.bin").read_bytes())
    data[37:41] = struct.pack("<i", 3)
    (tmp_path / "bad.bin").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="group size 3 does not divide dim=64"):
        read_llama2c(tmp_path / "bad.bin")


def test_hf_round_trip_and_transformers_reads_our_files(tmp_path):
    import transformers
    model = Llama(tiny(rope_theta=1000.0), seed=9).eval()
    save_hf(model, tmp_path / "hf")
    same_model(model, load_hf(tmp_path / "hf"))
    hf = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "hf").eval()
    ids = torch.randint(0, 65, (2, 50))
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, model(ids), atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("tied", [False, True])
def test_load_a_folder_written_by_save_pretrained(tmp_path, tied):
    import transformers
    hf_config = transformers.LlamaConfig(
        vocab_size=96, hidden_size=48, intermediate_size=128, num_hidden_layers=2, num_attention_heads=6,
        num_key_value_heads=2, max_position_embeddings=40, rms_norm_eps=1e-6, tie_word_embeddings=tied,
    )
    torch.manual_seed(0)
    hf = transformers.LlamaForCausalLM(hf_config).eval()
    hf.save_pretrained(tmp_path / "pretrained")
    model = load_hf(tmp_path / "pretrained")
    assert model.config.n_kv_head == 2 and model.config.norm_eps == 1e-6 and model.config.tie_embeddings == tied
    ids = torch.randint(0, 96, (3, 40))
    with torch.no_grad():
        torch.testing.assert_close(model(ids), hf(ids).logits, atol=2e-5, rtol=1e-5)


def test_hf_checkpoint_of_another_shape_raises(tmp_path):
    save_hf(Llama(tiny()), tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    config["intermediate_size"] = 200
    (tmp_path / "hf" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="has shape .*expects"):
        load_hf(tmp_path / "hf")


def test_the_stories15m_download_has_the_size_its_config_and_format_give():
    from babygpt.llama_checkpoints import LLAMA2C_FILES, _llama2c_order
    config = LlamaConfig.named("stories15m")
    size = 28 + 4 * sum(int(np.prod(shape)) for _, shape in _llama2c_order(config, 0, shared=True))
    assert size == LLAMA2C_FILES["stories15m"].size == 60_816_028
