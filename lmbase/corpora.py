"""The text corpora the course trains on, by name.

Adding a corpus is one entry in ``CORPORA``: where the file is on the web and its sha256.
"""

from .download import RemoteFile, fetch

CORPORA = {
    "tinyshakespeare": RemoteFile(
        relpath="tinyshakespeare.txt",
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        size=1_115_394,
    ),
}


def load_text(name: str) -> str:
    """The whole text of the corpus called ``name`` (see ``CORPORA``), decoded as UTF-8."""
    if name not in CORPORA:
        raise KeyError(f"unknown corpus {name!r}: the corpora are {sorted(CORPORA)}; add one to CORPORA")
    return fetch(CORPORA[name]).read_text(encoding="utf-8")
