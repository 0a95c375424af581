"""The text corpora the course trains on, by name.

Adding a corpus is one entry in ``CORPORA``: where the file is on the web and its sha256.
A corpus shipped as an archive also names, in ``READERS``, the function that turns the verified
file into text. A corpus cut from another is one entry in ``DERIVED``: the corpus it comes from
and the function that cuts it.
"""

import re
import tarfile
from pathlib import Path

from .download import RemoteFile, fetch

CORPORA = {
    "tinyshakespeare": RemoteFile(
        relpath="tinyshakespeare.txt",
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        size=1_115_394,
    ),
    # The first 10,000 documents of OpenWebText (Hugging Face dataset stas/openwebtext-10k), the
    # corpus of the microGPT seed's second experiment. Checksum and size from its dataset_infos.json.
    "openwebtext-10k": RemoteFile(
        relpath="openwebtext-10k.tar.xz",
        url="https://cdn-datasets.huggingface.co/nlp/datasets/openwebtext/openwebtext-10k.tar.xz",
        sha256="1dd150ffa3361ab32fa9f129d1b5ce20ac48728be16be436558f844d1761c572",
        size=14_723_792,
    ),
}


def read_openwebtext_archive(path: Path) -> str:
    """The documents of an OpenWebText-style archive, joined by blank lines.

    The format (as stas/openwebtext-10k builds it): a ``.tar.xz`` holding ``<name>/<part>.xz``
    files, each itself a ``.tar.xz`` of ``.txt`` documents. Documents are read in sorted order,
    runs of three or more newlines are squeezed to two and the ends stripped, as the dataset's
    own loading script does.
    """
    documents = []
    with tarfile.open(path, mode="r:xz") as outer:
        parts = sorted((m for m in outer.getmembers() if m.isfile() and m.name.endswith(".xz")), key=lambda m: m.name)
        if not parts:
            raise ValueError(f"{path} holds no inner .xz archive: it is not in the OpenWebText format")
        for part in parts:
            with tarfile.open(fileobj=outer.extractfile(part), mode="r:xz") as inner:
                texts = sorted((m for m in inner.getmembers() if m.isfile() and m.name.endswith(".txt")),
                               key=lambda m: m.name)
                for member in texts:
                    text = inner.extractfile(member).read().decode("utf-8")
                    documents.append(re.sub("\n\n\n+", "\n\n", text).strip())
    return "\n\n".join(documents)


def _read_utf8(path: Path) -> str:
    return path.read_text(encoding="utf-8")


READERS = {"openwebtext-10k": read_openwebtext_archive}


def before_the_shrew(text: str) -> str:
    """Tiny Shakespeare up to its last play, *The Taming of the Shrew*: everything before the
    first ``SLY:`` (its Induction), the last 13 % of the corpus. Chapter 7 fine-tunes on that play."""
    return text[:text.index("SLY:")]


DERIVED = {"tinyshakespeare-before-shrew": ("tinyshakespeare", before_the_shrew)}


def load_text(name: str) -> str:
    """The whole text of the corpus called ``name`` (see ``CORPORA`` and ``DERIVED``), decoded as UTF-8."""
    if name in DERIVED:
        source, cut = DERIVED[name]
        return cut(load_text(source))
    if name not in CORPORA:
        raise KeyError(f"unknown corpus {name!r}: the corpora are {sorted(CORPORA | DERIVED)}; add one to CORPORA")
    return READERS.get(name, _read_utf8)(fetch(CORPORA[name]))
