"""A Sphinx extension for the back matter: the bibliography and the execution-times table.

The bibliography, labelled as the text cites. The chapters cite by author and year ("Touvron
et al., 2023"); sphinxcontrib-bibtex's default "alpha" labels ("[TLI+23]", or "[GDollarG+17]"
for a name with an accent) did not match. This extension registers
- the pybtex formatting style ``author_year`` (with its label and sorting styles of the same
  name): entries sorted by author, year and title, each labelled with the text the chapters
  show ("Goyal et al., 2017");
- the referencing style ``author_year_lettered``: sphinxcontrib-bibtex's author-year citations,
  with the year taken from the label, so that two works of the same authors and year read
  "2023a" and "2023b" in the text and in the bibliography alike.

The execution-times table ({nb-exec-table}) names each row by its file ("book/01_ngram"); its
links are made to show the page's title instead.
"""

import re
import string
from collections import Counter
from dataclasses import dataclass

import pybtex.plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle as AuthorYearTitleSorting
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinxcontrib.bibtex.plugin import register_plugin
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle
from sphinxcontrib.bibtex.style.referencing.basic_author_year import (
    BasicAuthorYearParentheticalReferenceStyle,
    BasicAuthorYearTextualReferenceStyle,
)
from sphinxcontrib.bibtex.style.referencing.extra_year import ExtraYearReferenceStyle
from sphinxcontrib.bibtex.style.template import join, join2, node, post_text, pre_text, reference, year

LABEL_YEAR = re.compile(r"(\d{4}[a-z]?|n\.d\.[a-z]?)$")


def author_and_year(entry) -> tuple[str, str]:
    """The author text of an author-year citation ("Touvron et al.") and the entry's year.

    Made by the referencing style's own templates, so that a label reads as the text cites it.
    """
    style = AuthorYearReferenceStyle()
    data = {"entry": entry, "style": style}
    authors = style.person.author_or_editor_or_title(full=False).format_data(data).render_as("text")
    return authors, year.format_data(data).render_as("text")


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels "Authors, year", with a letter after the year where two entries would share one."""

    def format_labels(self, sorted_entries):
        plain = [", ".join(author_and_year(entry)) for entry in sorted_entries]
        shared, lettered = Counter(plain), Counter()
        for label in plain:
            if shared[label] == 1:
                yield label
            else:
                yield label + string.ascii_lowercase[lettered[label]]
                lettered[label] += 1


class AuthorYearSorting(AuthorYearTitleSorting):
    """By author, year and title, an organisation's braced name ({Hugging Face}) sorted by its letters."""

    def person_key(self, person):
        return super().person_key(person).replace("{", "").replace("}", "")


class AuthorYearStyle(UnsrtStyle):
    """pybtex's plain style (sorted by author, year, title) with author-year labels."""

    default_sorting_style = "author_year"
    default_label_style = "author_year"


@node
def lettered_year(children, data) -> Text:
    """The year as the entry's label ends: "2023a" where the authors have two works that year."""
    assert not children
    match = LABEL_YEAR.search(data["formatted_entry"].label)
    return Text(match.group(1)) if match else year.format_data(data)


@dataclass
class LetteredParenthetical(BasicAuthorYearParentheticalReferenceStyle):
    """{cite:p}: [Touvron et al., 2023a]."""

    def inner(self, role_name: str):
        return join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[
            pre_text,
            reference[join(sep=self.author_year_sep)[
                self.person.author_or_editor_or_title(full="s" in role_name), lettered_year]],
            post_text,
        ]


@dataclass
class LetteredTextual(BasicAuthorYearTextualReferenceStyle):
    """{cite:t}: Touvron et al. [2023a]."""

    def inner(self, role_name: str):
        return join(sep=self.text_reference_sep)[
            self.person.author_or_editor_or_title(full="s" in role_name),
            join[self.bracket.left,
                 join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[pre_text, reference[lettered_year], post_text],
                 self.bracket.right],
        ]


@dataclass
class LetteredYear(ExtraYearReferenceStyle):
    """{cite:year}: 2023a."""

    def inner(self, role_name: str):
        return reference[lettered_year]


@dataclass
class AuthorYearLetteredReferenceStyle(AuthorYearReferenceStyle):
    """sphinxcontrib-bibtex's author_year style, with each year lettered as its label is."""

    def __post_init__(self):
        super().__post_init__()
        lettered = {
            BasicAuthorYearParentheticalReferenceStyle: LetteredParenthetical(
                bracket=self.bracket_parenthetical, person=self.person, author_year_sep=self.author_year_sep,
                pre_text_sep=self.pre_text_sep, post_text_sep=self.post_text_sep),
            BasicAuthorYearTextualReferenceStyle: LetteredTextual(
                bracket=self.bracket_textual, person=self.person, text_reference_sep=self.text_reference_sep,
                pre_text_sep=self.pre_text_sep, post_text_sep=self.post_text_sep),
            ExtraYearReferenceStyle: LetteredYear(bracket=self.bracket_year),
        }
        self.styles = [lettered.get(type(style), style) for style in self.styles]
        self.role_style = {}
        self.role_style.update((role, style) for style in self.styles for role in style.role_names())


class DocLinksByTitle(SphinxPostTransform):
    """A link to a page whose text is the page's file id ("book/01_ngram") shows its title instead."""

    default_priority = 9  # after myst-nb fills the execution table (8), before links resolve (10)

    def run(self, **kwargs) -> None:
        for xref in self.document.findall(addnodes.pending_xref):
            if xref.get("reftype") == "doc" and xref.astext() in self.env.titles:
                xref["refexplicit"] = False  # Sphinx then writes the target's title


def register() -> None:
    """Make the two styles known to pybtex and sphinxcontrib-bibtex by name."""
    pybtex.plugin.register_plugin("pybtex.style.labels", "author_year", AuthorYearLabelStyle, force=True)
    pybtex.plugin.register_plugin("pybtex.style.sorting", "author_year", AuthorYearSorting, force=True)
    pybtex.plugin.register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle, force=True)
    register_plugin("sphinxcontrib.bibtex.style.referencing", "author_year_lettered",
                    AuthorYearLetteredReferenceStyle, force=True)


def setup(app):
    register()
    app.add_post_transform(DocLinksByTitle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
