"""The scaling-law fits recover known laws from synthetic sweeps with noise, and refuse sweeps they
cannot fit."""

import numpy as np
import pytest

from lmbase.chinchilla import EPOCH_A, EPOCH_ALPHA, EPOCH_B, EPOCH_BETA, EPOCH_E, training_flops
from lmbase.scaling_laws import (
    LossLaw, bootstrap, fit_loss_law, fit_power_law, huber, isoflop_minimum, isoflop_optima, law_as_start,
)

EPOCH = LossLaw(EPOCH_E, EPOCH_A, EPOCH_B, EPOCH_ALPHA, EPOCH_BETA)


def synthetic_sweep(law, noise, seed=0):
    """Runs of 6 sizes x 6 token counts whose losses follow ``law`` times log-normal noise."""
    n, d = np.meshgrid(np.logspace(5, 8, 6), np.logspace(7, 10, 6))
    n, d = n.ravel(), d.ravel()
    rng = np.random.default_rng(seed)
    return n, d, law.loss(n, d) * np.exp(rng.normal(0, noise, n.size))


def test_approach_3_recovers_the_epoch_law_from_noisy_runs():
    n, d, loss = synthetic_sweep(EPOCH, noise=0.002)
    law = fit_loss_law(n, d, loss)
    assert law.alpha == pytest.approx(EPOCH_ALPHA, abs=0.02)
    assert law.beta == pytest.approx(EPOCH_BETA, abs=0.02)
    assert law.E == pytest.approx(EPOCH_E, abs=0.05)
    assert law.n_exponent == pytest.approx(EPOCH.n_exponent, abs=0.01)
    assert law.n_exponent + law.d_exponent == pytest.approx(1.0)


def test_the_law_optimum_spends_the_budget_and_beats_its_neighbours():
    n_opt, d_opt = EPOCH.optimal(1e21)
    assert training_flops(n_opt, d_opt) == pytest.approx(1e21)
    for factor in (0.8, 1.25):
        n = n_opt * factor
        assert EPOCH.loss(n, 1e21 / (6 * n)) > EPOCH.loss(n_opt, d_opt)


def test_isoflop_minimum_and_power_law_recover_a_known_exponent():
    # budgets C, the law's optimum at each, runs at 5 sizes around it
    budgets, sizes, losses = [], [], []
    for c in np.logspace(18, 21, 4):
        n_opt, _ = EPOCH.optimal(c)
        for n in n_opt * np.logspace(-0.5, 0.5, 5):
            budgets.append(c), sizes.append(n), losses.append(float(EPOCH.loss(n, c / (6 * n))))
    compute, optima = isoflop_optima(budgets, sizes, losses)
    _, exponent = fit_power_law(compute, optima)
    # a parabola in log N is not exactly the curve: within 0.01 of a = beta / (alpha + beta)
    assert exponent == pytest.approx(EPOCH.n_exponent, abs=0.01)
    k, e = fit_power_law([1, 10, 100], [3, 30 * 10**0.5, 300 * 10])
    assert e == pytest.approx(1.5) and k == pytest.approx(3)


def test_huber_is_quadratic_then_linear():
    np.testing.assert_allclose(huber(np.array([0.0005, -0.0005, 0.01]), 1e-3), [1.25e-7, 1.25e-7, 1e-3 * 0.0095])


def test_bootstrap_spreads_around_the_fit_and_skips_degenerate_draws():
    n, d, loss = synthetic_sweep(EPOCH, noise=0.005, seed=1)
    law = fit_loss_law(n, d, loss)
    values = bootstrap(lambda rows: fit_loss_law(n[rows], d[rows], loss[rows], starts=[law_as_start(law)]).n_exponent,
                       len(n), draws=30)
    low, high = np.percentile(values, [2.5, 97.5])
    # the draws spread around the full fit, which is near the truth
    assert low < law.n_exponent < high and 0 < high - low < 0.1
    assert abs(np.median(values) - EPOCH.n_exponent) < 0.02
    # two runs: a resample often holds one size only, and such draws are skipped
    skipped = bootstrap(lambda rows: fit_power_law(np.array([1.0, 2.0])[rows], np.array([1.0, 2.0])[rows])[1],
                        2, draws=40)
    assert 0 < len(skipped) < 40
    # within groups: every draw keeps each group's size
    seen = bootstrap(lambda rows: tuple(sorted(np.asarray(rows) // 3)), 6, draws=20, groups=[0, 0, 0, 1, 1, 1])
    assert all(s == (0, 0, 0, 1, 1, 1) for s in map(tuple, seen))


def test_sweeps_that_cannot_be_fitted_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"one model size \(1e\+06\) only.*train at least two model sizes"):
        fit_loss_law([1e6, 1e6, 1e6], [1e7, 1e8, 1e9], [3.0, 2.9, 2.8])
    with pytest.raises(ValueError, match="at least three model sizes, got 2"):
        isoflop_minimum([1e6, 2e6, 2e6], [3.0, 2.9, 2.95])
    with pytest.raises(ValueError, match="do not curve upward"):
        isoflop_minimum([1e6, 2e6, 4e6], [3.0, 2.9, 2.7])
    with pytest.raises(ValueError, match="one compute budget"):
        isoflop_optima([1e18] * 3, [1e6, 2e6, 4e6], [3.0, 2.9, 3.0])
