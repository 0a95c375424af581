"""Scaling laws fitted to a sweep of training runs, framework-free (numpy and scipy).

A sweep trains models of ``N`` parameters on ``D`` tokens and records each run's final loss.
Two of Chinchilla's three ways (Hoffmann et al. 2022) to turn it into a law:

* **IsoFLOP curves** (their Approach 2): the runs of one compute budget ``C = 6 N D``, loss
  against ``log N``, fitted with a parabola; its minimum is that budget's ``N_opt`` (and
  ``D_opt = C / (6 N_opt)``). Over several budgets ``N_opt = k C^a``, a straight line in log-log.
* **A parametric loss** (their Approach 3): ``L(N, D) = E + A / N^alpha + B / D^beta``, fitted
  to every run at once. As the paper writes it, ``log L = LSE(a - alpha log N, b - beta log D, e)``
  with ``A = e^a, B = e^b, E = e^e``; the loss is a Huber loss (``delta = 1e-3``) of the log
  residuals, *summed* over the runs (Besiroglu et al. 2024 showed that the paper's reported fit
  is not the minimum of the mean), minimised by L-BFGS from a grid of starts. Minimising ``L``
  under ``6 N D = C`` gives ``N_opt ∝ C^a`` with ``a = beta / (alpha + beta)``.

Uncertainty comes from the bootstrap: refit on runs drawn with replacement and read the spread.
"""

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

HUBER_DELTA = 1e-3
# A grid of starting points (alpha, beta, a, b, e), a thinned version of Hoffmann et al.'s
# (theirs has 5 x 5 x 6 x 6 x 5 points).
DEFAULT_STARTS = list(itertools.product((0.25, 0.75), (0.25, 0.75), (0.0, 10.0, 20.0), (0.0, 10.0, 20.0),
                                        (-0.5, 0.5)))


@dataclass(frozen=True)
class LossLaw:
    """``L(N, D) = E + A / N^alpha + B / D^beta``."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def loss(self, n_params, n_tokens):
        return self.E + self.A / np.asarray(n_params, float) ** self.alpha + self.B / np.asarray(n_tokens, float) ** self.beta

    @property
    def n_exponent(self) -> float:
        """``a`` in ``N_opt ∝ C^a``."""
        return self.beta / (self.alpha + self.beta)

    @property
    def d_exponent(self) -> float:
        """``b`` in ``D_opt ∝ C^b`` (``a + b = 1``)."""
        return self.alpha / (self.alpha + self.beta)

    def optimal(self, compute):
        """``(N_opt, D_opt)`` minimising the loss under ``6 N D = compute`` (Chinchilla's eq. 4)."""
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))
        c6 = np.asarray(compute, float) / 6.0
        return g * c6**self.n_exponent, c6**self.d_exponent / g


def huber(residuals, delta: float = HUBER_DELTA):
    """Quadratic below ``delta``, linear above: an outlying run pulls the fit less."""
    r = np.abs(residuals)
    return np.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta))


def _check_sweep(n_params, n_tokens, losses) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, d, loss = (np.asarray(a, float) for a in (n_params, n_tokens, losses))
    if not n.shape == d.shape == loss.shape or n.ndim != 1:
        raise ValueError(f"n_params, n_tokens and losses must be 1-D and of one length, got "
                         f"{n.shape}, {d.shape} and {loss.shape}")
    if np.any(n <= 0) or np.any(d <= 0) or np.any(loss <= 0):
        raise ValueError("every n_params, n_tokens and loss must be positive")
    for name, values in (("model size", n), ("token count", d)):
        if len(np.unique(values)) < 2:
            raise ValueError(
                f"the sweep has one {name} ({values[0]:.4g}) only: its exponent cannot be fitted; "
                f"train at least two {name}s (three or more for a trustworthy fit)"
            )
    return n, d, loss


def fit_loss_law(n_params, n_tokens, losses, starts=None, delta: float = HUBER_DELTA) -> LossLaw:
    """Approach 3: the ``LossLaw`` of least summed Huber loss of log residuals, by L-BFGS from
    each of ``starts`` (tuples ``(alpha, beta, a, b, e)``; default ``DEFAULT_STARTS``)."""
    n, d, loss = _check_sweep(n_params, n_tokens, losses)
    log_n, log_d, log_loss = np.log(n), np.log(d), np.log(loss)

    def objective_and_gradient(theta):
        alpha, beta, a, b, e = theta
        terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
        top = terms.max(axis=0)
        log_fit = top + np.log(np.exp(terms - top).sum(axis=0))
        residual = log_fit - log_loss
        # d huber / d residual, then the softmax weights of the three terms: d log_fit / d term
        slope = np.clip(residual, -delta, delta)
        weights = np.exp(terms - log_fit)
        gradient = np.array([-(slope * weights[0] * log_n).sum(), -(slope * weights[1] * log_d).sum(),
                             (slope * weights[0]).sum(), (slope * weights[1]).sum(), (slope * weights[2]).sum()])
        return huber(residual, delta).sum(), gradient

    best = None
    for start in DEFAULT_STARTS if starts is None else starts:
        found = minimize(objective_and_gradient, np.asarray(start, float), jac=True, method="L-BFGS-B")
        if best is None or found.fun < best.fun:
            best = found
    alpha, beta, a, b, e = best.x
    return LossLaw(E=float(np.exp(e)), A=float(np.exp(a)), B=float(np.exp(b)), alpha=float(alpha),
                   beta=float(beta))


def law_as_start(law: LossLaw) -> tuple:
    """``law`` as a starting point of :func:`fit_loss_law` (to refit near it, as a bootstrap does)."""
    return (law.alpha, law.beta, np.log(law.A), np.log(law.B), np.log(law.E))


def isoflop_minimum(n_params, losses) -> float:
    """The ``N`` where a parabola in ``log N`` through one budget's runs is lowest."""
    n, loss = np.asarray(n_params, float), np.asarray(losses, float)
    if len(np.unique(n)) < 3:
        raise ValueError(
            f"an IsoFLOP curve needs at least three model sizes, got {len(np.unique(n))} "
            f"({sorted(set(n.tolist()))}): add sizes on both sides of the best one"
        )
    c2, c1, _ = np.polyfit(np.log(n), loss, 2)
    if c2 <= 0:
        raise ValueError("the runs of this budget do not curve upward around a minimum: add sizes on both "
                         "sides of the best one")
    return float(np.exp(-c1 / (2 * c2)))


def fit_power_law(x, y) -> tuple[float, float]:
    """``(k, exponent)`` of ``y = k x^exponent``, least squares in log-log."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(np.unique(x)) < 2:
        raise ValueError(f"a power law needs at least two distinct x values, got {len(np.unique(x))}")
    exponent, log_k = np.polyfit(np.log(x), np.log(y), 1)
    return float(np.exp(log_k)), float(exponent)


def isoflop_optima(budgets, n_params, losses) -> tuple[np.ndarray, np.ndarray]:
    """Approach 2: each budget's ``(C, N_opt)``, the runs grouped by their ``budgets`` entry."""
    budgets, n, loss = (np.asarray(a, float) for a in (budgets, n_params, losses))
    compute = np.unique(budgets)
    if len(compute) < 2:
        raise ValueError(f"the sweep has one compute budget ({compute[0]:.3g}) only: a power law in C "
                         f"needs at least two; add budgets")
    optima = np.array([isoflop_minimum(n[budgets == c], loss[budgets == c]) for c in compute])
    return compute, optima


def bootstrap(statistic, n_runs: int, draws: int = 200, seed: int = 0, groups=None) -> np.ndarray:
    """``statistic(rows)`` over ``draws`` resamples of the run indices ``0..n_runs-1`` drawn with
    replacement, within each group when ``groups`` (one label per run, e.g. its budget) is given;
    a draw for which the statistic raises ValueError (too few sizes left) is skipped.
    Returns the values of the draws that succeeded."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(n_runs) if groups is None else np.asarray(groups)
    members = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    values = []
    for _ in range(draws):
        rows = np.concatenate([rng.choice(m, len(m)) for m in members])
        try:
            values.append(statistic(rows))
        except ValueError:
            continue
    return np.asarray(values)
