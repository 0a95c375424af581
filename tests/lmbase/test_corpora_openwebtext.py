"""openwebtext-10k: the archive format read offline from a small archive the test builds."""

import io
import tarfile
from dataclasses import replace

from lmbase import corpora
from lmbase.download import sha256_of


def make_archive(path, documents):
    """A .tar.xz holding ``openwebtext-10k/10k.xz``, itself a .tar.xz of ``./NNNN.txt`` files."""
    inner_bytes = io.BytesIO()
    with tarfile.open(fileobj=inner_bytes, mode="w:xz") as inner:
        for name, text in documents.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            inner.addfile(info, io.BytesIO(data))
    with tarfile.open(path, mode="w:xz") as outer:
        info = tarfile.TarInfo("openwebtext-10k/10k.xz")
        info.size = len(inner_bytes.getvalue())
        outer.addfile(info, io.BytesIO(inner_bytes.getvalue()))


def test_openwebtext_10k_is_registered():
    remote = corpora.CORPORA["openwebtext-10k"]
    assert remote.url.endswith("openwebtext-10k.tar.xz")
    assert remote.size == 14_723_792 and len(remote.sha256) == 64


def test_load_text_reads_the_archive_format(tmp_path, monkeypatch):
    archive = tmp_path / "openwebtext-10k.tar.xz"
    make_archive(archive, {
        "0002-b.txt": "Second document.\n",
        "0001-a.txt": "First document,\n\n\n\nwith a gap. Caf\u00e9.\n",
    })
    remote = replace(corpora.CORPORA["openwebtext-10k"], sha256=sha256_of(archive), size=archive.stat().st_size)
    monkeypatch.setitem(corpora.CORPORA, "openwebtext-10k", remote)
    monkeypatch.setenv("LMBOOK_DATA_SEED", str(tmp_path))
    monkeypatch.setenv("LMBOOK_CACHE", str(tmp_path / "cache"))
    text = corpora.load_text("openwebtext-10k")
    # sorted by name, runs of blank lines squeezed to one, documents separated by a blank line
    assert text == "First document,\n\nwith a gap. Caf\u00e9.\n\nSecond document."
