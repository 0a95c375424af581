"""Compute-optimal model size and data (Hoffmann et al. 2022, "Chinchilla"), framework-free.

Training a dense transformer of ``N`` parameters on ``D`` tokens costs about ``C = 6 N D`` FLOPs
(2 for the forward multiply-add, 4 for the backward). For a budget ``C`` Chinchilla gives two
answers used in the course:

- the rule of thumb: about 20 training tokens per parameter, so ``N = sqrt(C / 120)``, ``D = 20 N``;
- Approach 3, the paper's fitted loss ``L(N, D) = E + A / N^alpha + B / D^beta`` (their eq. 10,
  ``E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28``), minimised under ``6 N D = C``:
  ``N_opt = G (C/6)^a``, ``D_opt = (C/6)^b / G`` with ``G = (alpha A / (beta B))^(1/(alpha+beta))``,
  ``a = beta / (alpha + beta)``, ``b = alpha / (alpha + beta)`` (their eq. 4).

Token counts of OpenWebText (for the seed's claims): the whole corpus is 39,769,491,688 bytes of
text in 8,013,769 documents (Hugging Face's ``openwebtext`` card) and 9,040,017,095 GPT-2 tokens
(nanoGPT's ``prepare.py``: 9,035,582,198 train + 4,434,897 validation); its 10k-document subset
``stas/openwebtext-10k`` is 49,670,861 bytes of text (its ``dataset_infos.json``).
"""

import math

TOKENS_PER_PARAM = 20.0
E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28

OPENWEBTEXT_BYTES = 39_769_491_688
OPENWEBTEXT_GPT2_TOKENS = 9_035_582_198 + 4_434_897
OPENWEBTEXT_10K_BYTES = 49_670_861
GPT2_TOKENS_PER_BYTE = OPENWEBTEXT_GPT2_TOKENS / OPENWEBTEXT_BYTES  # about 0.227 (4.4 bytes a token)


def training_flops(n_params: float, n_tokens: float) -> float:
    """``6 N D``: the FLOPs of training ``n_params`` parameters on ``n_tokens`` tokens."""
    return 6.0 * n_params * n_tokens


def tokens_of_text(n_bytes: float, tokens_per_byte: float = GPT2_TOKENS_PER_BYTE) -> float:
    """Approximate token count of ``n_bytes`` of English web text (GPT-2's rate on OpenWebText)."""
    return n_bytes * tokens_per_byte


def optimal_by_ratio(compute: float, tokens_per_param: float = TOKENS_PER_PARAM) -> tuple[float, float]:
    """``(N, D)`` with ``D = 20 N`` and ``6 N D = compute``."""
    n = math.sqrt(compute / (6.0 * tokens_per_param))
    return n, tokens_per_param * n


def chinchilla_loss(n_params: float, n_tokens: float) -> float:
    """Approach 3's fitted loss ``E + A / N^alpha + B / D^beta`` (nats per token, MassiveText)."""
    return E + A / n_params**ALPHA + B / n_tokens**BETA


def _law_constants() -> tuple[float, float, float]:
    g = (ALPHA * A / (BETA * B)) ** (1.0 / (ALPHA + BETA))
    return g, BETA / (ALPHA + BETA), ALPHA / (ALPHA + BETA)


def optimal_by_law(compute: float) -> tuple[float, float]:
    """``(N_opt, D_opt)`` minimising Approach 3's loss under ``6 N D = compute``."""
    g, a, b = _law_constants()
    return g * (compute / 6.0) ** a, (compute / 6.0) ** b / g


def params_for_tokens_by_ratio(n_tokens: float, tokens_per_param: float = TOKENS_PER_PARAM) -> float:
    """The model a dataset of ``n_tokens`` unique tokens suits by the 20-tokens-per-parameter rule."""
    return n_tokens / tokens_per_param


def params_for_tokens_by_law(n_tokens: float) -> float:
    """The ``N_opt`` of the budget whose Approach-3 ``D_opt`` equals ``n_tokens``."""
    g, a, b = _law_constants()
    compute_over_6 = (g * n_tokens) ** (1.0 / b)
    return g * compute_over_6**a


# Besiroglu et al. 2024, "Chinchilla scaling: a replication attempt" (Epoch AI): Approach 3 refitted
# on the data read from the paper's figure 4, with the Huber loss summed rather than averaged.
EPOCH_E, EPOCH_A, EPOCH_B, EPOCH_ALPHA, EPOCH_BETA = 1.8172, 482.01, 2085.43, 0.3478, 0.3658
# The exponent a of N_opt ∝ C^a from the paper's three approaches (its table 2).
PUBLISHED_N_EXPONENTS = {"approach 1": 0.50, "approach 2": 0.49, "approach 3": 0.46}


def appendix_f_training_flops(seq_len: int, vocab_size: int, d_model: int, n_head: int, n_layer: int,
                              d_ff: int, with_embeddings: bool = False) -> float:
    """Training FLOPs of one sequence of ``seq_len`` tokens, counted as the paper's appendix F does.

    Per layer: the q, k, v projections ``2 * 3 * S * d * d``, the logits ``2 S^2 d``, the softmax
    ``3 h S^2``, the weighted sum ``2 S^2 d``, the output ``2 S d d`` and the MLP ``2 S (2 d d_ff)``;
    the embedding and the output logits ``2 S d V`` each, left out of its table 4 (and of the
    seed BabyGPT's count) unless ``with_embeddings``. The backward pass costs twice the forward.
    """
    s, d = seq_len, d_model
    attention = 2 * 3 * s * d * d + 2 * s * s * d + 3 * n_head * s * s + 2 * s * s * d + 2 * s * d * d
    dense = 2 * s * (2 * d * d_ff)
    forward = n_layer * (attention + dense)
    if with_embeddings:
        forward += 2 * (2 * s * vocab_size * d)
    return 3.0 * forward
