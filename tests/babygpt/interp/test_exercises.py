"""Chapter 12's exercise checks accept a right answer and refuse wrong ones."""

import math

import pytest
import torch

from babygpt.exercises import check_fourier_basis, check_previous_token_score
from babygpt.interp.fourier import fourier_basis
from babygpt.interp.induction import previous_token_score


def test_right_answers_pass():
    check_previous_token_score(previous_token_score)
    check_fourier_basis(lambda p: fourier_basis(p)[0])


def test_wrong_answers_fail():
    with pytest.raises(AssertionError):  # position 0 counted
        check_previous_token_score(lambda pattern: torch.diagonal(pattern.roll(1, -1), dim1=-2, dim2=-1).mean((0, 2)))
    with pytest.raises(AssertionError, match="orthonormal"):  # no normalisation
        check_fourier_basis(lambda p: fourier_basis(p)[0] * math.sqrt(p))
    with pytest.raises(AssertionError, match="row 1"):  # sin before cos
        check_fourier_basis(lambda p: fourier_basis(p)[0][[0, 2, 1, *range(3, p)]])


def test_a_stub_is_let_through():
    def stub(x):
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        check_fourier_basis(stub)
