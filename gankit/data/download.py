"""Fetching the official dataset files: checksummed downloads, atomic renames, safe tar extraction.

Nothing is trusted until its MD5 matches the published one; a failed or mismatched download
leaves no file behind. `SOURCES` holds the official addresses and checksums; tests (or a local
mirror) replace a source's `base_url` with a `file://` address.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..atomic import TMP_PREFIX, create_temporary, fsync_dir
from ..errors import DataError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Source:
    """Where a dataset's files come from: a base URL, file name → MD5, and whether they are tar archives."""

    base_url: str
    files: dict[str, str] = field(default_factory=dict)
    archive: bool = False


SOURCES: dict[str, Source] = {
    "mnist": Source(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": Source(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
    "cifar10": Source(
        "https://www.cs.toronto.edu/~kriz/",
        {"cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530"},
        archive=True,
    ),
}


def md5sum(path: str | Path) -> str:
    """The hex MD5 of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: str | Path, md5: str) -> bool:
    """Whether `path` is a file whose MD5 is `md5`."""
    path = Path(path)
    return path.is_file() and md5sum(path) == md5.lower()


def fetch(url: str, dest: str | Path, md5: str) -> Path:
    """Download `url` to `dest` unless a file with the right MD5 is already there.

    The bytes go to a temporary file beside `dest`, are checked, then renamed into place, so
    `dest` only ever holds a verified file; a failure or a mismatch removes the temporary.
    """
    dest = Path(dest)
    if verify(dest, md5):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temporary(dest)
    try:
        print(f"gankit: downloading {url} to {dest}", file=sys.stderr, flush=True)
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    while chunk := response.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise DataError(
                    f"could not download {url} to {dest}: {reason}; put the file there yourself (md5 {md5})"
                ) from None
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != md5.lower():
            raise DataError(f"download {url} for {dest}: md5 {actual} does not match the expected {md5}; nothing kept")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)
    return dest


def extract_tar(archive: str | Path, dest: str | Path) -> None:
    """Extract a tar archive into `dest`, refusing members with absolute paths, `..` or links.

    Members land in a temporary folder first and are then renamed into place one file at a
    time, so an interrupted extraction never leaves a half-written file under its real name.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest, prefix=f"{TMP_PREFIX}extract-"))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                for member in members:
                    _check_member(archive, member)
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(staging, members=members, filter="data")
                else:  # pragma: no cover - Python without extraction filters; members were checked above
                    tar.extractall(staging, members=members)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"archive {archive} could not be extracted: {exc}") from None
        for path in sorted(staging.rglob("*")):
            target = dest / path.relative_to(staging)
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_member(archive: Path, member: tarfile.TarInfo) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or member.name.startswith(("/", "\\")) or ".." in name.parts:
        raise DataError(
            f"archive {archive} holds an unsafe path {member.name!r} (absolute or with '..'); not extracted"
        )
    if not (member.isfile() or member.isdir()):
        raise DataError(f"archive {archive} holds {member.name!r}, which is not a plain file or folder; not extracted")


def fetch_dataset(name: str, root: str | Path) -> None:
    """Fetch every official file of dataset `name` into `root` (verified), extracting archives there."""
    source = SOURCES[name]
    root = Path(root)
    try:
        for file, md5 in source.files.items():
            path = fetch(source.base_url + file, root / file, md5)
            if source.archive:
                extract_tar(path, root)
    except OSError as exc:  # an unwritable root, a root that is a file, a full disk
        raise DataError(f"cannot fetch {name} into {root}: {exc.strerror or exc}") from None
