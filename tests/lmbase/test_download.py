"""The data layer: seed folder first, then cache, then download; checksums always checked."""

import hashlib
import threading
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler

import pytest

from lmbase import download
from lmbase.download import DataFileError, RemoteFile, fetch

CONTENT = b"To be, or not to be, that is the question.\n" * 100


def remote_for(url="http://127.0.0.1:9/missing.txt", content=CONTENT, relpath="corpus/text.txt"):
    return RemoteFile(relpath=relpath, url=url, sha256=hashlib.sha256(content).hexdigest(), size=len(content))


@pytest.fixture
def folders(tmp_path, monkeypatch):
    seed, cache = tmp_path / "seed", tmp_path / "cache"
    monkeypatch.setenv(download.SEED_VARIABLE, str(seed))
    monkeypatch.setenv(download.CACHE_VARIABLE, str(cache))
    return seed, cache


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over tmp_path/www, so downloads are tested without the internet."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = HTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_seed_copy_is_used_when_intact(folders):
    seed, cache = folders
    (seed / "corpus").mkdir(parents=True)
    (seed / "corpus/text.txt").write_bytes(CONTENT)
    assert fetch(remote_for()) == seed / "corpus/text.txt"
    assert not cache.exists()


def test_download_goes_to_the_cache_and_is_reused(folders, server):
    seed, cache = folders
    www, base = server
    (www / "text.txt").write_bytes(CONTENT)
    remote = remote_for(url=f"{base}/text.txt")
    path = fetch(remote)
    assert path == cache / "corpus/text.txt" and path.read_bytes() == CONTENT
    (www / "text.txt").unlink()  # a second fetch must not need the server
    assert fetch(remote) == path


def test_corrupt_seed_is_never_used_and_the_download_replaces_it(folders, server):
    seed, cache = folders
    www, base = server
    (seed / "corpus").mkdir(parents=True)
    (seed / "corpus/text.txt").write_bytes(CONTENT[:-1])  # truncated
    (www / "text.txt").write_bytes(CONTENT)
    path = fetch(remote_for(url=f"{base}/text.txt"))
    assert path == cache / "corpus/text.txt" and path.read_bytes() == CONTENT


def test_a_download_with_the_wrong_checksum_leaves_no_file(folders, server):
    seed, cache = folders
    www, base = server
    (www / "text.txt").write_bytes(CONTENT + b"tampered")
    with pytest.raises(DataFileError, match="sha256"):
        fetch(remote_for(url=f"{base}/text.txt"))
    assert not (cache / "corpus").exists() or not any((cache / "corpus").iterdir())


def test_an_interrupted_download_leaves_no_file(folders, monkeypatch):
    seed, cache = folders

    class Broken:
        def __enter__(self):
            return self

        def __exit__(self, *args):
            return False

        def read(self, n):
            raise ConnectionResetError("connection lost half-way")

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: Broken())
    with pytest.raises(DataFileError, match="connection lost"):
        fetch(remote_for())
    assert not any(p.is_file() for p in cache.rglob("*"))


def test_missing_file_error_says_where_it_looked_and_how_to_fix(folders):
    seed, cache = folders
    with pytest.raises(DataFileError) as error:
        fetch(remote_for())  # port 9 on localhost refuses the connection
    message = str(error.value)
    assert str(seed / "corpus/text.txt") in message and str(cache / "corpus/text.txt") in message
    assert "missing" in message and "To fix" in message and download.SEED_VARIABLE in message
