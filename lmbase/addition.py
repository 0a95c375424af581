"""Multi-digit addition as text, in four formats: the task of chapter 13 (chain of thought).

A problem is two ``n``-digit numbers (``n >= 2``: no leading zero; ``n = 1``: 0 to 9). The model
reads a *prompt* and writes a *completion* that ends with ``"."``; for ``45 + 27``:

=========================  ===========  ==================================
format                     prompt       completion
=========================  ===========  ==================================
``plain``                  ``45+27=``   ``72.``
``reversed``               ``45+27=``   ``27.`` (the sum's digits, units first)
``scratchpad``             ``45+27=``   ``5+7=12,4+2+1=7,ans:72.``
``scratchpad_reversed``    ``54+72=``   ``5+7=12,4+2+1=7,ans:27.``
=========================  ===========  ==================================

The scratchpad is the seed BabyGPT's: one step per column, units first, that adds the column's
digits and the carry from the column before (``+1``, written only when there is one) and writes
the column's whole sum; then the answer. In ``scratchpad_reversed`` every number is written units
first, so that each step reads the digits in the order it uses them (Lee et al. 2023).

Problems are drawn balanced over carries: the number of columns that carry is uniform over
``0 .. n``, as in Lee et al. 2023, since uniform pairs rarely carry through every column.
"""

import math
import random
from dataclasses import dataclass
from statistics import NormalDist

FORMATS = ("plain", "reversed", "scratchpad", "scratchpad_reversed")
VOCAB = "0123456789+=,.:ans"  # 18 characters, the size of the seed's vocabulary
END = "."


@dataclass(frozen=True)
class Problem:
    """``a + b``, both with ``n_digits`` digits."""

    a: int
    b: int
    n_digits: int

    @property
    def total(self) -> int:
        return self.a + self.b


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} does not exist: pick one of {FORMATS}")


def check_digits(n_digits: int) -> None:
    if not isinstance(n_digits, int) or n_digits < 1:
        raise ValueError(f"n_digits={n_digits!r} must be an integer of at least 1: a number has a digit")


def digits(x: int, n: int) -> list[int]:
    """The ``n`` lowest digits of ``x``, units first."""
    return [x // 10**i % 10 for i in range(n)]


def carries(a: int, b: int, n_digits: int) -> list[int]:
    """The carry out of each column, units first: ``carries(45, 27, 2) == [1, 0]``."""
    out, carry = [], 0
    for x, y in zip(digits(a, n_digits), digits(b, n_digits)):
        carry = int(x + y + carry >= 10)
        out.append(carry)
    return out


def scratchpad_steps(a: int, b: int, n_digits: int) -> list[str]:
    """One step per column, units first: ``["5+7=12", "4+2+1=7"]`` for 45 + 27."""
    steps, carry = [], 0
    for x, y in zip(digits(a, n_digits), digits(b, n_digits)):
        column = x + y + carry
        steps.append(f"{x}+{y}" + ("+1" if carry else "") + f"={column}")
        carry = int(column >= 10)
    return steps


def prompt(problem: Problem, fmt: str) -> str:
    check_format(fmt)
    a, b = str(problem.a).zfill(problem.n_digits), str(problem.b).zfill(problem.n_digits)
    if fmt == "scratchpad_reversed":
        a, b = a[::-1], b[::-1]
    return f"{a}+{b}="


def completion(problem: Problem, fmt: str) -> str:
    """What the model should write after the prompt, ending with ``END``."""
    check_format(fmt)
    total = str(problem.total)
    if fmt in ("reversed", "scratchpad_reversed"):
        total = total[::-1]
    if fmt.startswith("scratchpad"):
        steps = scratchpad_steps(problem.a, problem.b, problem.n_digits)
        return ",".join(steps) + f",ans:{total}{END}"
    return total + END


def text(problem: Problem, fmt: str) -> str:
    """The whole example: prompt and completion."""
    return prompt(problem, fmt) + completion(problem, fmt)


def read_answer(written: str, fmt: str) -> int | None:
    """The sum a model wrote after the prompt, or ``None`` when what it wrote is not a well-formed
    completion of ``fmt`` (no ``END``, no ``ans:``, a character that is not a digit): such an answer
    counts as wrong. Only the answer is read; a scratchpad's steps are not checked."""
    check_format(fmt)
    if END not in written:
        return None
    body = written[:written.index(END)]
    if fmt.startswith("scratchpad"):
        if ",ans:" not in body:
            return None
        body = body[body.rindex(",ans:") + len(",ans:"):]
    if not body.isdigit() or not body.isascii():
        return None
    return int(body[::-1] if fmt in ("reversed", "scratchpad_reversed") else body)


def parse(example: str, fmt: str) -> Problem:
    """The problem of a whole example (``text(problem, fmt)``), its answer checked against the
    sum; a malformed example or a wrong sum raises ``ValueError``."""
    check_format(fmt)
    head, sep, written = example.partition("=")
    a, plus, b = head.partition("+")
    if not (sep and plus and a.isdigit() and b.isdigit() and len(a) == len(b)):
        raise ValueError(f"{example!r} does not start with a prompt 'a+b=' of two numbers of equal width")
    if fmt == "scratchpad_reversed":
        a, b = a[::-1], b[::-1]
    problem = Problem(int(a), int(b), len(a))
    answer = read_answer(written, fmt)
    if answer != problem.total:
        raise ValueError(f"{example!r} answers {answer}, but {problem.a}+{problem.b}={problem.total}")
    return problem


# ---- drawing problems ---------------------------------------------------------------------------

def column_pair(rng: random.Random, carry_in: int, carry_out: int, leading: bool) -> tuple[int, int]:
    """Digits ``x, y`` of one column, uniform among those with ``x + y + carry_in >= 10`` exactly
    when ``carry_out``; a leading column of a number of two or more digits has no zero."""
    low = 1 if leading else 0
    pairs = [(x, y) for x in range(low, 10) for y in range(low, 10)
             if (x + y + carry_in >= 10) == bool(carry_out)]
    return rng.choice(pairs)


def draw_problem(n_digits: int, rng: random.Random) -> Problem:
    """One problem whose number of carrying columns is uniform over ``0 .. n_digits``."""
    check_digits(n_digits)
    n_carries = rng.randint(0, n_digits)
    carrying = set(rng.sample(range(n_digits), n_carries))
    a = b = carry = 0
    for i in range(n_digits):
        x, y = column_pair(rng, carry, i in carrying, leading=n_digits > 1 and i == n_digits - 1)
        a, b, carry = a + x * 10**i, b + y * 10**i, int(i in carrying)
    return Problem(a, b, n_digits)


def n_problems(n_digits: int) -> int:
    """How many distinct problems there are with ``n_digits`` digits."""
    check_digits(n_digits)
    return 100 if n_digits == 1 else (9 * 10 ** (n_digits - 1)) ** 2


def draw_problems(n_digits: int, count: int, seed: int, exclude=frozenset()) -> list[Problem]:
    """``count`` distinct problems, none in ``exclude``; the same seed gives the same list."""
    check_digits(n_digits)
    available = n_problems(n_digits) - len({p for p in exclude if p.n_digits == n_digits})
    if count > available // 2:
        raise ValueError(
            f"count={count} problems of {n_digits} digits asks for more than half of the {available} "
            f"available: drawing them balanced over carries would repeat; ask for at most {available // 2}")
    rng = random.Random(f"{seed}-{n_digits}")
    drawn: dict[Problem, None] = {}
    while len(drawn) < count:
        problem = draw_problem(n_digits, rng)
        if problem not in exclude:
            drawn[problem] = None
    return list(drawn)


def train_test_split(digit_counts, n_train: int, n_test: int, seed: int = 0):
    """Per number of digits, ``n_train`` training and ``n_test`` test problems that share no pair:
    two dicts ``{n_digits: [Problem, ...]}``. The test set is drawn first, so it does not depend
    on ``n_train``."""
    train, test = {}, {}
    for n in digit_counts:
        test[n] = draw_problems(n, n_test, seed=seed + 1_000_003)
        train[n] = draw_problems(n, n_train, seed=seed, exclude=frozenset(test[n]))
    return train, test


# ---- scoring ------------------------------------------------------------------------------------

def exact_match(problems, written, fmt: str) -> list[bool]:
    """For each problem, whether the completion the model wrote gives its sum (``read_answer``)."""
    problems, written = list(problems), list(written)
    if len(problems) != len(written):
        raise ValueError(f"{len(problems)} problems but {len(written)} answers: give one answer per problem")
    return [read_answer(w, fmt) == p.total for p, w in zip(problems, written)]


def wilson_interval(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion ``correct / total``: unlike the normal
    approximation it stays inside [0, 1] and is not empty at 0 or 100 %."""
    if total < 1 or not 0 <= correct <= total:
        raise ValueError(f"correct={correct} of total={total}: need total >= 1 and 0 <= correct <= total")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} must be between 0 and 1, e.g. 0.95")
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    # exactly 0 and 1 at the ends (the formula gives them up to rounding)
    return (0.0 if correct == 0 else centre - half), (1.0 if correct == total else centre + half)
