"""The front page's chapter guide (tools/front_page.py): what it counts, and that it lists every chapter."""

import re
from pathlib import Path

import yaml

from tools.front_page import READING_WPM, code_lines, facts_text, prose_words, reading_minutes

ROOT = Path(__file__).resolve().parent.parent

SOURCE = """---
jupytext:
  format_name: myst
---

# 9. A title of three words

Prose with $x_t$ math, a role {cite:p}`someone2024`, `inline code` and [a link](https://example.org/a/b).

$$
\\mathrm{softmax}(x) = \\frac{e^x}{\\sum e^x}
$$

```{code-cell} ipython3
:tags: [remove-cell]
import sys
```

```{code-cell} ipython3
---
mystnb:
  figure:
    caption: words in a cell's options are not prose
---
x = 1

y = 2
```

```{figure} figures/a.svg
:name: fig-a

A caption of six words here.
```

```{literalinclude} ../lmbase/fastmode.py
:pyobject: pick
```
"""


def test_prose_words_count_prose_and_captions_only():
    # "9 A title of three words" (6), "Prose with math a role and a link" with the inline
    # code as one word (9), the caption (6)
    assert prose_words(SOURCE) == 6 + 9 + 6


def test_code_lines_count_the_cells_a_reader_sees():
    assert code_lines(SOURCE) == 2  # x = 1, y = 2: not the removed cell, the options or blank lines


def test_reading_minutes_round_up_at_the_cited_rate():
    assert READING_WPM == 238
    assert (reading_minutes(1), reading_minutes(238), reading_minutes(239)) == (1, 1, 2)


def test_facts_name_the_run_time_only_when_the_build_has_one():
    assert facts_text(SOURCE, None) == "1 min to read (21 words of prose); 2 lines of code."
    assert facts_text(SOURCE, 41.6).endswith("; it ran in 42 s in fast mode when this book was built.")


def test_the_front_page_guides_through_every_chapter_in_order():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    front = (ROOT / f"{toc['root']}.md").read_text(encoding="utf-8")
    guide = re.search(r"```\{chapter-guide\}\n(.*?)```", front, flags=re.S).group(1)
    listed = [line.split(":", 1)[0] for line in guide.splitlines() if line.strip()]
    chapters = [entry["file"] for part in toc["parts"] for entry in part["chapters"]
                if re.fullmatch(r"book/\d\d_\w+", entry["file"])]
    assert listed == chapters
    assert "{numref}`fig-learning-path`" in front and "figures/learning-path.svg" in front
