"""The KV cache's arithmetic, framework-free: how many bytes it holds and how many FLOPs it saves.

When a decoder generates token t, attention needs the keys and values of every earlier token.
Without a cache they are recomputed each step; with one, each token's keys and values are
computed once, when the token is read, and stored. Following kipply's "Transformer inference
arithmetic" (2022), for a model of ``n_layer`` layers, width ``d_model`` and key/value width
``kv_dim = n_kv_head · head_dim`` (``d_model`` without grouped-query attention):

* computing one token's keys and values costs ``2 · 2 · n_layer · d_model · kv_dim`` FLOPs (two
  matrices, k and v, of ``d_model × kv_dim`` per layer, and 2 FLOPs per multiply-add): the seed
  BabyGPT's ``2·2·n_layers·d_model²`` when ``kv_dim = d_model``;
* storing them takes ``2 · n_layer · kv_dim`` numbers per token, times the bytes of a number.

Grouped-query attention divides both by ``n_head / n_kv_head``.
"""

from .checks import check_at_least_one


def kv_flops_per_token(n_layer: int, d_model: int, kv_dim: int | None = None) -> int:
    """FLOPs to compute one token's keys and values in every layer: ``2 · 2 · n_layer · d_model · kv_dim``."""
    kv_dim = d_model if kv_dim is None else kv_dim
    check_at_least_one(n_layer=n_layer, d_model=d_model, kv_dim=kv_dim)
    return 2 * 2 * n_layer * d_model * kv_dim


def kv_cache_bytes_per_token(n_layer: int, kv_dim: int, bytes_per_value: int = 2) -> int:
    """Bytes the cache holds for one token: ``2 · n_layer · kv_dim`` values (keys and values)."""
    check_at_least_one(n_layer=n_layer, kv_dim=kv_dim, bytes_per_value=bytes_per_value)
    return 2 * n_layer * kv_dim * bytes_per_value


def kv_cache_bytes(n_layer: int, kv_dim: int, seq_len: int, batch: int = 1, bytes_per_value: int = 2) -> int:
    """Bytes of the whole cache for ``batch`` sequences of ``seq_len`` tokens."""
    check_at_least_one(seq_len=seq_len, batch=batch)
    return batch * seq_len * kv_cache_bytes_per_token(n_layer, kv_dim, bytes_per_value)


def kv_flops_saved(n_layer: int, d_model: int, kv_dim: int | None, prompt_len: int, new_tokens: int) -> int:
    """K/V FLOPs that a cache saves over generating ``new_tokens`` after a ``prompt_len``-token prompt.

    Without a cache, the step that predicts token ``prompt_len + s`` recomputes the keys and values
    of all ``prompt_len + s`` tokens before it; with one, only of the newest. Steps s = 0 .. new_tokens-1.
    """
    check_at_least_one(prompt_len=prompt_len, new_tokens=new_tokens)
    per_token = kv_flops_per_token(n_layer, d_model, kv_dim)
    recomputed = sum(prompt_len + s for s in range(new_tokens))
    cached = prompt_len + (new_tokens - 1)  # the prompt once, then one token per later step
    return per_token * (recomputed - cached)


def decode_bytes_read(weight_bytes: int, n_layer: int, kv_dim: int, batch: int, positions: float,
                      bytes_per_value: int = 2) -> float:
    """Bytes one decoding step reads from memory: every weight once (shared by the batch), and
    each row's cached keys and values at ``positions`` earlier tokens (a mean over the steps may
    be given). Over the step's time, over the device's peak bandwidth: the memory-bandwidth
    utilisation of decoding, the figure that bounds it at small batch."""
    check_at_least_one(batch=batch)
    return weight_bytes + batch * positions * kv_cache_bytes_per_token(n_layer, kv_dim, bytes_per_value)
