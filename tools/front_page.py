"""A Sphinx extension for the front page: the chapter guide, each chapter with what it takes.

    ```{chapter-guide}
    book/01_ngram: what the chapter builds, in a line (MyST inline markup allowed)
    ```

renders a list: each chapter's title (a link), the line, and what the build measures of it:
- the minutes its prose takes to read, counted from its source (code, math and markup left
  out) at READING_WPM words a minute, the mean silent-reading rate of adults for English
  non-fiction (Brysbaert 2019, "How many words do we read per minute? A review and
  meta-analysis of reading rate", Journal of Memory and Language 109, 104047);
- the lines of code in its cells (the Colab cell and removed cells left out);
- the seconds it took to execute in this build, from MyST-NB's execution data (what the
  execution-times page shows), where the build executed it or found it in the cache.
The numbers are the build's, like a cell's output: none is typed into the page.
"""

import math
import re

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

READING_WPM = 238
METADATA_KEY = "has_chapter_guide"

FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")
# directives whose body is prose a reader reads (a figure's caption, a box)
PROSE_DIRECTIVES = ("{figure}", "{admonition}", "{note}", "{tip}", "{warning}", "{important}")


def _blocks(source: str):
    """(kind, lines) for each part of a MyST source: 'prose', 'code' (a code cell's body, its
    options left out), 'removed' (a remove-cell cell) or 'other' (other code and directives)."""
    lines = source.splitlines()
    if lines and lines[0] == "---":  # the YAML front matter
        end = lines.index("---", 1)
        lines = lines[end + 1:]
    i, prose = 0, []
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            prose.append(lines[i])
            i += 1
            continue
        yield "prose", prose
        prose = []
        marker, info = fence.group(1), fence.group(2).strip()
        body, i = [], i + 1
        while i < len(lines) and not lines[i].startswith(marker):
            body.append(lines[i])
            i += 1
        i += 1
        options = []
        while body and (body[0].startswith(":") or body[0] == "---"):
            if body[0] == "---":  # a YAML options block
                end = body.index("---", 1)
                options += body[: end + 1]
                body = body[end + 1:]
            else:
                options.append(body.pop(0))
        if info.startswith("{code-cell}"):
            yield ("removed" if any("remove-cell" in o for o in options) else "code"), body
        elif info.startswith(PROSE_DIRECTIVES):
            yield "prose", body
        else:
            yield "other", body
    yield "prose", prose


def prose_words(source: str) -> int:
    """The words of a chapter's prose: Markdown, figure captions and boxes, without code,
    math, roles' targets, links' addresses or headings' markup."""
    text = "\n".join(line for kind, lines in _blocks(source) if kind == "prose" for line in lines)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]+\$", " ", text)
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", " ", text)  # {cite:p}`key`, {numref}`name`
    text = re.sub(r"`[^`]*`", " x ", text)  # inline code reads as one word
    text = re.sub(r"\]\([^)]*\)", "]", text)  # a link's address
    return len(re.findall(r"[A-Za-z0-9][\w'’-]*", text))


def code_lines(source: str) -> int:
    """The non-blank lines of a chapter's code cells (a removed cell, as the Colab cell, left out)."""
    return sum(1 for kind, lines in _blocks(source) if kind == "code" for line in lines if line.strip())


def reading_minutes(words: int) -> int:
    return max(1, math.ceil(words / READING_WPM))


class chapter_facts(nodes.General, nodes.Inline, nodes.Element):
    """A placeholder for what the build measures of one chapter, filled in once all are executed."""


class ChapterGuide(SphinxDirective):
    has_content = True

    def run(self):
        guide = nodes.bullet_list(classes=["chapter-guide"])
        for line in self.content:
            if not line.strip():
                continue
            docname, _, text = line.partition(":")
            docname = docname.strip()
            if not text or not (self.env.srcdir / f"{docname}.md").exists():
                raise self.error(f"chapter-guide: {line!r} is not 'book/NN_name: what it builds' for a chapter that exists")
            self.env.note_dependency(str(self.env.srcdir / f"{docname}.md"))
            title = addnodes.pending_xref("", nodes.inline(text=docname, classes=["xref", "doc"]), refdoc=self.env.docname,
                                          refdomain="std", reftype="doc", reftarget=f"/{docname}",
                                          refexplicit=False, refwarn=True)
            inline, messages = self.state.inline_text(text.strip(), self.lineno)
            paragraph = nodes.paragraph("", "", nodes.strong("", "", title), nodes.Text(": "), *inline)
            facts = nodes.paragraph("", "", chapter_facts(docname=docname), classes=["chapter-facts"])
            guide += nodes.list_item("", paragraph, facts, *messages)
        from myst_nb.sphinx_ import NbMetadataCollector

        NbMetadataCollector.set_doc_data(self.env, self.env.docname, METADATA_KEY, True)
        return [guide]


def facts_text(source: str, runtime: float | None) -> str:
    words = prose_words(source)
    text = (f"{reading_minutes(words)} min to read ({words:,} words of prose); "
            f"{code_lines(source):,} lines of code")
    if runtime is not None:
        text += f"; it ran in {runtime:.0f} s in fast mode when this book was built"
    return text + "."


class ChapterFactsPostTransform(SphinxPostTransform):
    default_priority = 8  # with MyST-NB's execution table: once every chapter is executed

    def run(self, **kwargs) -> None:
        from myst_nb.sphinx_ import NbMetadataCollector

        data = NbMetadataCollector.get_doc_data(self.env)
        for node in list(self.document.findall(chapter_facts)):
            docname = node["docname"]
            source = (self.env.srcdir / f"{docname}.md").read_text(encoding="utf-8")
            runtime = (data.get(docname, {}).get("exec_data") or {}).get("runtime")
            node.replace_self(nodes.emphasis(text=facts_text(source, runtime)))


def update_guides(app, env):
    """When a chapter was executed again, the pages with a guide are written again too."""
    from myst_nb.sphinx_ import NbMetadataCollector

    if not NbMetadataCollector.new_exec_data(env):
        return None
    return [doc for doc, data in NbMetadataCollector.get_doc_data(env).items() if data.get(METADATA_KEY)]


def setup(app):
    app.add_node(chapter_facts)
    app.add_directive("chapter-guide", ChapterGuide)
    app.add_post_transform(ChapterFactsPostTransform)
    app.connect("env-updated", update_guides)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
