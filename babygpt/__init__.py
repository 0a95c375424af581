"""babygpt: the course's PyTorch package.

n-gram and neural bigram models, attention, BabyGPT, its trainer, LoRA, LLaMA, quantization,
FLOPs/MFU and interpretability. Framework-free pieces (corpora, tokenizers, FLOPs arithmetic)
come from lmbase; babygpt never imports JAX.
"""
