"""Writes that never leave a half-written file: write a temporary sibling, then rename it.

A rename within one directory is atomic on POSIX file systems, so a reader (or a run killed
at any moment) sees the old file or the new one, never a mix. Directories (a SavedModel) are
swapped with Linux's ``renameat2(RENAME_EXCHANGE)`` where available, so the previous export
stays servable until the new one is complete.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PREVIOUS_SUFFIX = ".previous"


def temp_sibling(path: Path) -> Path:
    """A unique name beside ``path`` that keeps its full name as the ending (Keras and
    matplotlib read the format from it: ``.keras``, ``.weights.h5``, ``.png``)."""
    return path.parent / f".tmp-{os.getpid()}-{secrets.token_hex(4)}-{path.name}"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path to write; on success it replaces ``path`` in one rename, on
    failure it is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_sibling(path)
    try:
        yield temp
        os.replace(temp, path)
    finally:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    """Writes ``text`` as is (no newline translation), never leaving a partial file."""
    with atomic_path(path) as temp, open(temp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def write_json(path: str | Path, record: dict[str, Any]) -> None:
    """``record`` as indented JSON; numpy scalars and arrays become plain numbers and lists."""
    write_text(path, json.dumps(record, indent=2, default=plain) + "\n")


def plain(value: Any) -> Any:
    """JSON form of numpy values (``json.dumps(default=plain)``)."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swaps two existing paths (Linux renameat2); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return result == 0


def replace_directory(new: Path, path: Path) -> None:
    """Puts the complete directory ``new`` at ``path``; the previous ``path`` (if any) is
    removed afterwards. With an atomic exchange ``path`` is never missing; without one, the old
    directory waits at ``<path>.previous`` until the new one is in place, and
    :func:`recover_directory` puts it back after a kill between the two renames."""
    if not path.exists():
        os.rename(new, path)
        return
    if _exchange(new, path):
        shutil.rmtree(new)  # now holds the previous directory
        return
    previous = path.with_name(path.name + PREVIOUS_SUFFIX)
    shutil.rmtree(previous, ignore_errors=True)
    os.rename(path, previous)
    os.rename(new, path)
    shutil.rmtree(previous)


def recover_directory(path: Path) -> None:
    """Undoes what a kill inside :func:`replace_directory` left: a missing ``path`` gets its
    ``.previous`` back; stray temporary siblings are removed."""
    previous = path.with_name(path.name + PREVIOUS_SUFFIX)
    if not path.exists() and previous.exists():
        os.rename(previous, path)
    elif previous.exists():
        shutil.rmtree(previous, ignore_errors=True)
    for stray in path.parent.glob(f".tmp-*-{path.name}"):
        with contextlib.suppress(OSError):
            pid = int(stray.name.split("-")[1])
            if _alive(pid) and pid != os.getpid():
                continue  # another process is writing it right now
        if stray.is_dir():
            shutil.rmtree(stray, ignore_errors=True)
        else:
            stray.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
