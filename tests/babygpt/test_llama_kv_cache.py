"""lmbase.kv_cache_arithmetic checked against operations counted by torch's FlopCounterMode and
bytes held by babygpt.llama's KV cache."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from babygpt.llama import Llama, LlamaConfig
from lmbase.kv_cache_arithmetic import kv_cache_bytes, kv_flops_per_token, kv_flops_saved


def kv_projection_flops(model, run) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        run()
    counts = counter.get_flop_counts()
    return sum(sum(ops.values()) for name, ops in counts.items() if name.endswith((".wk", ".wv")))


@pytest.mark.parametrize("n_kv_head", [4, 1])
def test_kv_flops_per_token_equal_counted_operations(n_kv_head):
    config = LlamaConfig.named("tiny", n_kv_head=n_kv_head)
    model = Llama(config).eval()
    caches = model.new_kv_caches(1)
    with torch.no_grad():
        model(torch.zeros(1, 10, dtype=torch.long), caches=caches)
        one_token = torch.zeros(1, 1, dtype=torch.long)
        counted = kv_projection_flops(model, lambda: model(one_token, start=10, caches=caches))
    kv_dim = n_kv_head * config.head_dim
    assert counted == kv_flops_per_token(config.n_layer, config.d_model, kv_dim)
    if n_kv_head == config.n_head:  # the seed's formula, 2·2·n_layers·d_model², holds without GQA
        assert counted == 2 * 2 * config.n_layer * config.d_model**2


def test_kv_flops_saved_equal_counted_operations():
    model = Llama(LlamaConfig.named("tiny")).eval()
    c = model.config
    prompt = torch.zeros(1, 5, dtype=torch.long)
    without = kv_projection_flops(model, lambda: model.generate(prompt, 12, temperature=0, use_cache=False))
    with_cache = kv_projection_flops(model, lambda: model.generate(prompt, 12, temperature=0, use_cache=True))
    assert without - with_cache == kv_flops_saved(c.n_layer, c.d_model, c.n_kv_head * c.head_dim, 5, 12)


def test_kv_cache_bytes_equal_the_cache_tensors():
    config = LlamaConfig.named("tiny")
    caches = Llama(config).new_kv_caches(batch=3)
    held = sum(cache.nbytes() for cache in caches)
    kv_dim = config.n_kv_head * config.head_dim
    assert held == kv_cache_bytes(config.n_layer, kv_dim, config.context, 3, bytes_per_value=4)


def test_llama2_70b_cache_per_token():
    # 80 layers × 8 kv heads × 128 channels × 2 (k and v) × 2 bytes (fp16) = 327,680 bytes per token.
    assert kv_flops_per_token(80, 8192, 1024) == 4 * 80 * 8192 * 1024
    with pytest.raises(ValueError, match="n_layer=0"):
        kv_flops_per_token(0, 8)
    from lmbase.kv_cache_arithmetic import kv_cache_bytes_per_token
    assert kv_cache_bytes_per_token(80, 8 * 128) == 327_680
