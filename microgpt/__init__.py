"""microgpt: a GPT written from its equations in JAX and optax (no Flax, no PyTorch).

Modules, in the order data meets them: ``layers`` (LayerNorm, sinusoidal positions, FFN,
dropout), ``attention`` (causal multi-head attention and its KV-cache step), ``model``
(``GPTConfig``, parameters, forward, loss), ``seed`` (the microGPT seed's ``micro_gpt_1/2/4`` API),
``generate`` (sampling with a KV cache), ``train`` (optax training, bf16, the command line),
``data_parallel`` (the device mesh) and ``checkpoint`` (safetensors + config.json).
"""
