"""The seeds' claims that babygpt's package tests measure (the chapters check the others)."""

import torch

from babygpt.llama import Llama, LlamaConfig
from lmbase.claims import check_claim


def test_the_llama2_port_has_real_grouped_query_attention_at_70b():
    # LLaMA 2 70B's 8 key/value heads for 64 query heads give Hugging Face's published 68,976,648,192
    with torch.device("meta"):  # counted without allocating
        model = Llama(LlamaConfig.named("llama2-70b"))
    check_claim("babygpt-llama2-port", model.num_parameters())
