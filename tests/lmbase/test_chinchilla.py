"""Chinchilla arithmetic against the paper's numbers and a brute-force minimisation."""

import numpy as np
import pytest

from lmbase import chinchilla as ch


def test_ratio_rule_recovers_chinchilla_itself():
    # Chinchilla: 70B parameters on 1.4T tokens, exactly 20 tokens per parameter
    n, d = ch.optimal_by_ratio(ch.training_flops(70e9, 1.4e12))
    assert n == pytest.approx(70e9) and d == pytest.approx(1.4e12)


def test_law_optimum_matches_brute_force():
    for compute in (1e18, 5.76e23):
        n_grid = np.logspace(5, 13, 200_001)
        losses = ch.chinchilla_loss(n_grid, compute / (6 * n_grid))
        n_best = n_grid[np.argmin(losses)]
        n_opt, d_opt = ch.optimal_by_law(compute)
        assert n_opt == pytest.approx(n_best, rel=1e-3)
        assert ch.training_flops(n_opt, d_opt) == pytest.approx(compute)


def test_law_exponents_are_the_papers():
    # their eq. 4 with alpha = 0.34, beta = 0.28: N_opt grows as C^0.45 (the paper rounds to 0.46)
    n1, _ = ch.optimal_by_law(1e20)
    n2, _ = ch.optimal_by_law(1e21)
    assert np.log10(n2 / n1) == pytest.approx(0.28 / 0.62)
    # at Chinchilla's budget Approach 3 gives a smaller model than 70B (the paper's Table 3: about 40B)
    n, _ = ch.optimal_by_law(5.76e23)
    assert 30e9 < n < 50e9


def test_params_for_a_dataset():
    tokens = 227e6
    assert ch.params_for_tokens_by_ratio(tokens) == pytest.approx(11.35e6)
    n = ch.params_for_tokens_by_law(tokens)
    _, d = ch.optimal_by_law(6 * n * tokens)
    assert d == pytest.approx(tokens, rel=1e-9)


def test_openwebtext_token_rate():
    assert ch.GPT2_TOKENS_PER_BYTE == pytest.approx(0.2273, abs=1e-4)
    assert ch.tokens_of_text(ch.OPENWEBTEXT_10K_BYTES) == pytest.approx(11.29e6, rel=1e-3)


def test_appendix_f_count_reproduces_the_seed_babygpts_0407_pflops():
    # The seed's call: the corpus's 180,194 words taken as one sequence, 22,127-word vocabulary, d 256,
    # 4 heads, 4 layers, MLP 1024 wide; it printed 0.407066566638144 PFLOPS
    assert ch.appendix_f_training_flops(180194, 22127, 256, 4, 4, 1024) / 1e15 == pytest.approx(0.407066566638144,
                                                                                                 rel=1e-12)
    # at a sequence of one token nothing is quadratic: 3 x the matrices and the softmax of one score per head
    d, d_ff, layers = 256, 1024, 4
    one = ch.appendix_f_training_flops(1, 100, d, 4, layers, d_ff)
    assert one == 3 * layers * (2 * 4 * d * d + 2 * 2 * d * d_ff + 4 * d + 3 * 4)
    assert ch.appendix_f_training_flops(1, 100, d, 4, layers, d_ff, with_embeddings=True) == one + 3 * 4 * 100 * d
