"""Files fetched once, checked by sha256, and cached: the data layer every chapter uses.

A file is looked for, in order:

1. in the seed folder named by ``$LMBOOK_DATA_SEED`` (offline copies; CI points it at one),
2. in the cache folder, ``$LMBOOK_CACHE`` or ``~/.cache/lmbook``,
3. at its canonical URL, downloaded into the cache.

Every copy is checked against its sha256 before it is used, so a truncated or corrupt file is
never read. A download is written to a temporary file beside its destination and renamed into
place only once its checksum is right: an interrupted download leaves nothing that passes for
a good file.
"""

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SEED_VARIABLE = "LMBOOK_DATA_SEED"
CACHE_VARIABLE = "LMBOOK_CACHE"


@dataclass(frozen=True)
class RemoteFile:
    """A file the course needs: where it lives on the web and what its bytes must hash to.

    ``relpath`` is its path under the seed and cache folders, e.g. ``"gpt2/vocab.json"``.
    """

    relpath: str
    url: str
    sha256: str
    size: int


class DataFileError(RuntimeError):
    """A data file could not be found, downloaded or verified."""


def cache_dir() -> Path:
    """The folder downloads are kept in: ``$LMBOOK_CACHE`` or ``~/.cache/lmbook``."""
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "lmbook")


def seed_dir() -> Path | None:
    """The folder of offline copies named by ``$LMBOOK_DATA_SEED``, or None when unset."""
    value = os.environ.get(SEED_VARIABLE)
    return Path(value) if value else None


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_intact(path: Path, remote: RemoteFile) -> bool:
    """True when ``path`` exists and holds exactly the bytes ``remote`` describes."""
    return path.is_file() and path.stat().st_size == remote.size and sha256_of(path) == remote.sha256


def fetch(remote: RemoteFile) -> Path:
    """Return a local path holding ``remote``'s verified bytes, downloading it if needed."""
    looked = []
    seed = seed_dir()
    if seed is not None:
        candidate = seed / remote.relpath
        if is_intact(candidate, remote):
            return candidate
        looked.append(_describe(candidate, remote))
    else:
        looked.append(f"no seed folder (${SEED_VARIABLE} is unset)")

    cached = cache_dir() / remote.relpath
    if is_intact(cached, remote):
        return cached
    looked.append(_describe(cached, remote))

    try:
        _download(remote, cached)
    except (OSError, DataFileError) as error:
        raise DataFileError(
            f"{remote.relpath} is not available. Looked at: {'; '.join(looked)}; "
            f"downloading {remote.url} failed: {error}. To fix: download that URL yourself and "
            f"save it as {cached}, or set ${SEED_VARIABLE} to a folder holding {remote.relpath} "
            f"(sha256 {remote.sha256})."
        ) from error
    return cached


def _describe(path: Path, remote: RemoteFile) -> str:
    if not path.exists():
        return f"{path} (missing)"
    return f"{path} (present but corrupt: its sha256 is not {remote.sha256[:12]}…)"


def _download(remote: RemoteFile, destination: Path) -> None:
    """Download to a temporary file, verify it, then atomically rename it into place."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=destination.name + ".")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(remote.url, timeout=60) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
        if not is_intact(Path(temporary), remote):
            raise DataFileError(
                f"the download of {remote.url} has sha256 {sha256_of(Path(temporary))}, "
                f"expected {remote.sha256}"
            )
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
