"""Files from a public URL, cached by ``keras.utils.get_file``, with a fast offline failure."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from data.sources import DataUnavailableError, _network_reachable


def cached_download(url: str, member: str | None = None, cache_dir: str | None = None) -> Path:
    """The local path of ``url`` (or of ``member`` inside it when it is a zip/tar archive).

    Downloads once into ``cache_dir/datasets`` (default ``$KERAS_HOME`` or ``~/.keras``) and
    reuses that copy afterwards. Without a cached copy and without a network route it fails
    at once with a one-line ``DataUnavailableError`` instead of waiting on timeouts.
    """
    import keras

    parts = urllib.parse.urlsplit(url)
    file_name = os.path.basename(parts.path)
    if parts.scheme not in ("http", "https") or not parts.hostname or not file_name:
        raise DataUnavailableError(f"data.url: not an http(s) URL of a file: {url!r}")
    base = Path(os.path.expanduser(cache_dir or os.environ.get("KERAS_HOME", "~/.keras")))
    cached = base / "datasets" / file_name
    if not cached.exists():
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not _network_reachable((parts.hostname, port)):
            raise DataUnavailableError(
                f"{url}: not cached in {cached.parent} and no network to download it; use "
                f"--data files (a CSV under DATA_ROOT) or --data sample"
            )
    extract = member is not None
    path = Path(keras.utils.get_file(file_name, origin=url, extract=extract, cache_dir=str(base)))
    if member is None:
        return path
    found = path / member
    if not found.exists():
        inside = sorted(p.name for p in path.rglob("*") if p.is_file())[:10]
        raise DataUnavailableError(
            f"{url}: archive has no '{member}' (files: {', '.join(inside) or 'none'})"
        )
    return found
