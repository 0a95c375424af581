"""lmbase: the framework-free part of the course, shared by microgpt (JAX) and babygpt (PyTorch).

It imports numpy and the standard library only: corpora and their download cache, tokenizers,
batching, FLOPs arithmetic, fast mode and the seeds' claims. Neither JAX nor PyTorch is needed.
"""
