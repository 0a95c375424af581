"""tools/mutation_pass.py: every mutant still applies to the code as it is, and the runner tells a
killed mutant from a surviving one."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.mutation_pass import MUTANTS, Mutant, check_applies, run  # noqa: E402


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.path}: {m.bug}")
def test_every_mutant_applies_once_and_names_existing_tests(mutant):
    assert mutant.old != mutant.new
    check_applies(mutant)


def test_a_stale_mutant_is_refused_with_the_fix(tmp_path):
    (tmp_path / "arith.py").write_text("x = 1\nx = 1\n")
    with pytest.raises(ValueError, match="occurs 2 times, not once: update the mutant"):
        check_applies(Mutant("arith.py", "x = 1", "x = 2", (), "twice"), root=tmp_path)


def test_the_runner_reports_killed_and_surviving_mutants_and_restores_the_file(tmp_path):
    source = "def double(x):\n    return 2 * x\n\n\ndef half(x):\n    return x / 2\n"
    (tmp_path / "arith.py").write_text(source)
    test = "from arith import double\n\n\ndef test_double():\n    assert double(3) == 6\n"
    (tmp_path / "test_code.py").write_text(test)
    caught = Mutant("arith.py", "return 2 * x", "return 3 * x", ("test_code.py",), "caught")
    missed = Mutant("arith.py", "return x / 2", "return x / 3", ("test_code.py",), "no test of half")
    assert run(caught, tmp_path, timeout=120)[0] is True
    assert run(missed, tmp_path, timeout=120)[0] is False
    assert (tmp_path / "arith.py").read_text() == source
