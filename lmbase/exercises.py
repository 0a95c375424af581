"""Exercises a learner does: a stub to fill in, and a check that says what is wrong.

A chapter's exercise cell defines the stub, whose body raises ``NotImplementedError``, and hands it
to the exercise's check (in ``babygpt.exercises`` or ``microgpt.exercises``) through
:func:`check_answer`. Until the stub is filled in, the cell says so; a wrong answer raises
``AssertionError`` with what differs and by how much; a right one prints that it is right. The
solution, in a hidden cell, goes through the same check, which is how the tests run it.
"""

from typing import Callable


def check_answer(exercise: str, check: Callable, answer: Callable) -> bool:
    """Run ``check(answer)``: False (and a note) while ``answer`` raises NotImplementedError, True
    when the check passes; a failing check raises its AssertionError."""
    try:
        check(answer)
    except NotImplementedError:
        print(f"{exercise}: not answered yet. Fill in the function above and run the cell again.")
        return False
    print(f"{exercise}: correct.")
    return True
