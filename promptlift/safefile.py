"""Writes that stay where they are aimed: never through a planted link, never half-written.

A run directory is data: it gets shared, downloaded and committed, and ``--resume`` writes
into one. So a file in it may have been replaced by a symbolic link (or a hard link) to a file
elsewhere; writing "to" it in place would overwrite that file. Every write here goes to a fresh
temporary file created exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``, as ``tempfile.mkstemp``
does) in the same directory and is then renamed over the target: a rename replaces a link
itself, never what it points to. An append-only log (``trials.jsonl``) is unlinked and created
anew the same way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator

from promptlift.errors import ConfigError


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically, never through a link."""
    data = text.encode("utf-8")
    with _temporary(Path(path)) as (fd, tmp):
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    _replace(tmp, Path(path))


def save_with(path: str | Path, write: Callable[[str], None]) -> None:
    """Let ``write(temporary_path)`` produce the file (a plot, a tensor file), then rename it to ``path``."""
    path = Path(path)
    with _temporary(path) as (fd, tmp):
        os.close(fd)
        write(tmp)
    _replace(tmp, path)


def open_fresh(path: str | Path) -> IO[str]:
    """A new, empty text file at ``path`` for appending: whatever was there (a link too) is unlinked first."""
    path = Path(path)
    if path.is_symlink() or path.exists():
        if path.is_dir() and not path.is_symlink():
            raise ConfigError(f"{path}: is a directory, expected a file")
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    return os.fdopen(fd, "w", encoding="utf-8")


def refuse_link(path: str | Path) -> Path:
    """``path`` unchanged, unless it is a symbolic link (a file an engine would open and write through)."""
    path = Path(path)
    if path.is_symlink():
        raise ConfigError(f"{path}: is a symbolic link; a run directory's files must be plain files (remove it)")
    return path


@contextlib.contextmanager
def _temporary(path: Path) -> Iterator[tuple[int, str]]:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    try:
        yield fd, tmp
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _replace(tmp: str, path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        os.unlink(tmp)
        raise ConfigError(f"{path}: is a directory, expected a file")
    os.replace(tmp, path)
