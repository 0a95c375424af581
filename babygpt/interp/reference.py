"""The independent reference for the hooks: the same weights in TransformerLens (Nanda &
Bloom 2022), whose version 4 wraps a Hugging Face model in a ``TransformerBridge``.

A babygpt GPT becomes Hugging Face's ``GPT2LMHeadModel`` (its exact-GELU variant), a LLaMA
becomes ``LlamaForCausalLM`` (``babygpt.llama_checkpoints``); the bridge then exposes the
activations under TransformerLens's names (``blocks.0.attn.hook_pattern`` ...).
"""

import torch

from ..llama import Llama
from ..llama_checkpoints import hf_config, hf_state_dict
from ..model import GPT


def gpt_to_hugging_face(model: GPT):
    """A ``GPT2LMHeadModel`` computing what the GPT computes (a tied head; zero biases where
    babygpt has none). GPT-2 stores its linear layers as (in, out), hence the transposes."""
    import transformers

    c = model.config
    if not c.tie_head:
        raise ValueError("GPT2LMHeadModel ties its head to the token embedding: use a GPT with tie_head=True")
    config = transformers.GPT2Config(vocab_size=c.vocab_size, n_positions=c.context, n_embd=c.d_model,
                                     n_layer=c.n_layer, n_head=c.n_head, activation_function="gelu",
                                     layer_norm_epsilon=c.ln_eps, resid_pdrop=0.0, embd_pdrop=0.0,
                                     attn_pdrop=0.0)
    hf = transformers.GPT2LMHeadModel(config).eval()
    state = {"transformer.wte.weight": model.tok_emb.weight, "transformer.wpe.weight": model.pos_emb.weight}
    pairs = {"ln_f": model.ln_f}
    for i, block in enumerate(model.blocks):
        pairs.update({f"h.{i}.ln_1": block.ln1, f"h.{i}.ln_2": block.ln2})
        linears = {"attn.c_attn": block.attn.qkv, "attn.c_proj": block.attn.proj,
                   "mlp.c_fc": block.mlp.fc, "mlp.c_proj": block.mlp.proj}
        for name, layer in linears.items():
            state[f"transformer.h.{i}.{name}.weight"] = layer.weight.T
            state[f"transformer.h.{i}.{name}.bias"] = _bias(layer)
    for name, norm in pairs.items():
        state[f"transformer.{name}.weight"] = norm.weight
        state[f"transformer.{name}.bias"] = _bias(norm)
    with torch.no_grad():
        hf.load_state_dict({k: v.detach().contiguous() for k, v in state.items()}, strict=False)
    return hf


def _bias(module) -> torch.Tensor:
    bias = module.bias
    return torch.zeros(module.weight.shape[0]) if bias is None else bias


def llama_to_hugging_face(model: Llama):
    """A ``LlamaForCausalLM`` computing what the LLaMA computes."""
    import transformers

    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**hf_config(model.config))).eval()
    hf.load_state_dict({k: torch.from_numpy(v) for k, v in hf_state_dict(model).items()}, strict=False)
    return hf


def transformer_bridge(model):
    """TransformerLens's ``TransformerBridge`` around the Hugging Face copy of ``model``."""
    import tokenizers
    import transformers
    from transformer_lens.model_bridge import TransformerBridge

    hf = gpt_to_hugging_face(model) if isinstance(model, GPT) else llama_to_hugging_face(model)
    vocab = {str(i): i for i in range(model.config.vocab_size)}  # the bridge insists on a tokenizer
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="0")))
    return TransformerBridge.boot_transformers(type(hf).__name__, hf_model=hf, load_weights=False,
                                               tokenizer=tokenizer)
