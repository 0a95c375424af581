"""What attention computes and what it moves through memory, framework-free.

For ``batch · n_head`` heads of ``T`` queries and ``T`` keys of width ``d_head``, the two matrix
multiplies ``S = Q Kᵀ`` and ``O = P V`` cost ``2 · T · T · d_head`` FLOPs each (a multiply-add is 2
FLOPs); causal attention needs only the lower triangle, half of them. The backward pass does five
such products (it recomputes ``S`` in FlashAttention), 2.5 times the forward: the convention of
the FlashAttention papers (Dao et al. 2022; Dao 2023) and of Triton's fused-attention tutorial,
whose TFLOP/s figures are computed this way.

The bytes are what the forward pass reads from and writes to the device's main memory. Written
as three kernels (scores, softmax, weighted sum), attention writes the ``T × T`` scores, reads
them back for the softmax, writes the weights and reads them again for ``P V``: four passes over a
``T × T`` matrix, on top of reading Q, K, V and writing O. A fused kernel (FlashAttention) keeps the
scores in on-chip memory and moves only Q, K, V and O, plus one log-sum-exp per query row.
"""

from .checks import check_at_least_one


def attention_flops(batch: int, n_head: int, seq: int, d_head: int, causal: bool = False,
                    backward: bool = False) -> float:
    """FLOPs of attention's matrix multiplies: ``4 · batch · n_head · T² · d_head`` forward, halved
    when causal; times 2.5 for the backward pass alone (``backward=True``)."""
    check_at_least_one(batch=batch, n_head=n_head, seq=seq, d_head=d_head)
    flops = 4.0 * batch * n_head * seq * seq * d_head
    if causal:
        flops /= 2
    return flops * 2.5 if backward else flops


def unfused_attention_bytes(batch: int, n_head: int, seq: int, d_head: int, bytes_per_value: int = 2) -> int:
    """Bytes the forward pass moves when the ``T × T`` scores go through memory: Q, K, V read and O
    written (``4 · T · d_head``), the scores written and read, the weights written and read
    (``4 · T²``), per head."""
    check_at_least_one(batch=batch, n_head=n_head, seq=seq, d_head=d_head, bytes_per_value=bytes_per_value)
    return batch * n_head * (4 * seq * d_head + 4 * seq * seq) * bytes_per_value


def fused_attention_bytes(batch: int, n_head: int, seq: int, d_head: int, bytes_per_value: int = 2) -> int:
    """Bytes a fused (FlashAttention) forward pass must move: Q, K, V read and O written, and one
    float32 log-sum-exp per query row, per head. A lower bound: each block of queries reads K and V
    again, reads that the GPU's L2 cache mostly serves."""
    check_at_least_one(batch=batch, n_head=n_head, seq=seq, d_head=d_head, bytes_per_value=bytes_per_value)
    return batch * n_head * (4 * seq * d_head * bytes_per_value + 4 * seq)
