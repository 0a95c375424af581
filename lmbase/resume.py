"""Which training settings may change when a run is resumed: one policy, both trainers.

A checkpoint keeps the settings its run was trained with. A resumed run is asked for settings
again (by the caller of ``babygpt.train.Trainer.resume`` or ``microgpt.train.train(resume=True)``,
or by a command line with ``--resume``), and each setting falls in one of three groups:

* **free**: it says how long the run goes on or how it is watched (``steps``, ``eval_every``,
  ``eval_batches``): a new value is applied, and printed;
* **fixed**: the run cannot go on without it (the ``seed``, which picks every batch and dropout
  mask; the architecture, which the weights have): a new value is refused, always;
* **on request**, every other one: it changes the batches, the schedule or the optimizer (batch
  size, learning rate, betas, weight decay, clipping, precision), so the resumed run would no
  longer be the saved one going on. A new value is refused unless the caller names the setting
  in ``allow_changes`` (``--allow-change NAME`` on the command line); then it is applied, and printed.

A refusal is a :class:`ResumeError` that lists every setting that differs, with both values, and
says how to go on.
"""

NOT_SAVED = "(not saved)"


class ResumeError(ValueError):
    """A resumed run was asked for settings that its checkpoint's run was not trained with.

    ``refused`` names them, so that a command line can add what its own flags did."""

    def __init__(self, message: str, refused=()):
        super().__init__(message)
        self.refused = tuple(refused)


def resume_changes(folder, step: int, saved: dict, asked: dict, *, free=(), fixed: dict | None = None,
                   allow_changes=()) -> dict:
    """Check the settings ``asked`` of a run resumed from ``folder`` at ``step`` against the ``saved`` ones.

    ``free`` names the settings that may change; ``fixed`` maps each that never may to the reason;
    the others change only when named in ``allow_changes``. A ``steps`` below ``step`` is refused.
    Returns the changes, ``{name: (saved value, asked value)}`` in alphabetical order; raises
    ResumeError listing every refused one.
    """
    fixed = fixed or {}
    unknown = sorted(set(allow_changes) - set(asked))
    if unknown:
        raise ResumeError(f"allow_changes names {unknown}, which are not settings of this run: use some of "
                          f"{sorted(asked)}")
    changes = {name: (saved.get(name, NOT_SAVED), asked[name]) for name in sorted(asked)
               if saved.get(name, NOT_SAVED) != asked[name]}
    never = [name for name in changes if name in fixed]
    unasked = [name for name in changes if name not in fixed and name not in free and name not in allow_changes]
    too_few = "steps" in changes and changes["steps"][1] < step
    if not (never or unasked or too_few):
        return changes

    def line(name, note=""):
        old, new = changes[name]
        return f"  {name}: {old!r} in the checkpoint, {new!r} asked{note}"

    lines = [f"cannot resume the run in {folder} (saved at step {step}) with these settings:"]
    lines += [line(name) for name in unasked]
    lines += [line(name, f" ({fixed[name]})") for name in never]
    if too_few:
        lines.append(line("steps", f" (the run is already at step {step})"))
    if unasked:
        names = " and ".join(unasked)
        lines.append(
            f"{names} would change the batches, the schedule or the optimizer, so the run would no longer be "
            f"the saved one going on: to change them all the same, pass allow_changes={tuple(unasked)!r} "
            f"(on the command line: --allow-change {' '.join(unasked)}); to go on as saved, leave them out."
        )
    if never:
        lines.append(f"{' and '.join(never)} cannot change on resume: train a new run in another folder instead.")
    if too_few:
        lines.append(f"ask for steps of at least {step}, or leave steps out to train to {changes['steps'][0]!r}.")
    raise ResumeError("\n".join(lines), unasked + never + ["steps"] * too_few)


def describe_changes(folder, step: int, changes: dict, notes: dict | None = None) -> str:
    """The line a resumed run prints: where it resumes from, and each setting that changed (with its note)."""
    if not changes:
        return f"resuming {folder} at step {step} with the settings it was trained with"
    notes = notes or {}
    parts = [f"{name} {old!r} -> {new!r}" + (f" ({notes[name]})" if name in notes else "")
             for name, (old, new) in changes.items()]
    return f"resuming {folder} at step {step} with changed settings: " + "; ".join(parts)
