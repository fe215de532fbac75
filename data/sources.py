"""Where data comes from: DATA_ROOT files, bundled samples and TFDS with a fast offline check."""

from __future__ import annotations

import glob
import os
import socket
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = PROJECT_ROOT / "data" / "samples"

# TFDS downloads from its GCS mirror first, then from the dataset's home page.
_TFDS_PROBE = ("storage.googleapis.com", 443)


class DataUnavailableError(RuntimeError):
    """Data cannot be read; the message says what to do instead (one line)."""


def data_root() -> Path:
    """``$DATA_ROOT`` or ``../shared/data`` next to the project root."""
    return Path(os.environ.get("DATA_ROOT", PROJECT_ROOT.parent / "shared" / "data"))


def resolve_data_path(path: str) -> Path:
    """A path from config: absolute, or relative to DATA_ROOT; it must exist."""
    resolved = Path(path) if os.path.isabs(path) else data_root() / path
    if not resolved.exists():
        raise DataUnavailableError(
            f"{resolved}: not found (DATA_ROOT={data_root()}; set DATA_ROOT or give an "
            f"absolute path, or use --data sample for the bundled sample)"
        )
    return resolved


def data_files(path: str, key: str) -> list[Path]:
    """The files config key ``key`` names with ``path`` (absolute, or under DATA_ROOT): one
    file, every file directly in a directory (not hidden), or every file a glob matches
    (``**`` crosses directories); sorted by name. None there is a one-line error naming
    ``key``."""
    where = path if os.path.isabs(path) else str(data_root() / path)
    if glob.has_magic(where):
        files = sorted(Path(p) for p in glob.glob(where, recursive=True) if Path(p).is_file())
        if not files:
            raise DataUnavailableError(f"{key}: no file matches {where} (DATA_ROOT={data_root()})")
        return files
    resolved = Path(where)
    if resolved.is_dir():
        files = sorted(p for p in resolved.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise DataUnavailableError(f"{key}: {resolved}: directory has no files")
        return files
    if not resolved.exists():
        raise DataUnavailableError(
            f"{key}: {resolved}: not found (DATA_ROOT={data_root()}; a file, a directory or a "
            f"glob such as corpus/*.txt; set DATA_ROOT or give an absolute path)"
        )
    return [resolved]


def sample_path(*parts: str) -> Path:
    """A file of the bundled samples under ``data/samples``."""
    return SAMPLES_DIR.joinpath(*parts)


def _network_reachable(host_port: tuple[str, int] = _TFDS_PROBE, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(host_port, timeout=timeout):
            return True
    except OSError:
        return False


def tfds_load(name: str, split: str, data_dir: str | None, **kwargs):
    """``tfds.load`` that fails in seconds, not minutes, when the data is not there.

    It loads with ``download=False`` first. If the dataset is not prepared it checks for a
    network route before letting TFDS download (TFDS alone retries for ~200 s offline).
    """
    import tensorflow_datasets as tfds

    try:
        return tfds.load(name, split=split, data_dir=data_dir, download=False, **kwargs)
    except tfds.core.registered.DatasetNotFoundError as err:
        first_line = str(err).strip().splitlines()[0]
        raise DataUnavailableError(f"TFDS: {first_line}") from None
    except AssertionError:  # "could not find data in <dir>": not prepared there
        pass
    where = data_dir or os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")
    if not _network_reachable():
        raise DataUnavailableError(
            f"TFDS dataset '{name}' is not prepared in {where} and there is no network to "
            f"download it: prepare it there (or set data.tfds_data_dir), or use "
            f"--data files (DATA_ROOT={data_root()}) or --data sample"
        )
    return tfds.load(name, split=split, data_dir=data_dir, download=True, **kwargs)


def carve_validation(
    n: int, fraction: float, seed: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train_indices, validation_indices) from ``n`` training examples.

    With ``groups`` (e.g. the movie of each IMDB review, the source sentence of each
    translation pair) whole groups go to validation, so no group is on both sides; groups are
    taken in a seeded random order until ``fraction`` of the examples is reached. When there
    are too few groups for that to leave a fair train side (fewer than ``2 / fraction``, e.g.
    a CoNLL file without ``-DOCSTART-`` lines is one document), examples are carved one by one.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    target = max(1, round(n * fraction))
    if groups is None:
        order = rng.permutation(n)
        return np.sort(order[target:]), np.sort(order[:target])
    groups = np.asarray(groups)
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} examples")
    unique, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if len(unique) < 2 / fraction:
        return carve_validation(n, fraction, seed)
    chosen = np.zeros(len(unique), dtype=bool)
    taken = 0
    for group in rng.permutation(len(unique)):
        if taken >= target:
            break
        chosen[group] = True
        taken += counts[group]
    in_validation = chosen[inverse]
    return np.flatnonzero(~in_validation), np.flatnonzero(in_validation)
