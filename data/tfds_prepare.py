"""``python -m pipelines prepare-tfds <name> --manual-dir DIR [--data-dir D]``: builds an
official TFDS dataset offline from a local copy of its source file(s).

TFDS's download manager takes a file from its manual directory instead of downloading it
when the file has the name registered in the builder's ``checksums.tsv``, and it still
verifies the size and SHA-256 there. This command first asks the builder which URLs it
downloads (its split generators are run against a recorder that stops at the first
download call), looks each one up in the registered checksums and checks the local copy
itself, so a missing or different file fails at once in one line naming the file, size and
checksum TFDS needs — not after TFDS's 205 s of network retries. Only then does TFDS build
the dataset, with ``try_download_gcs=False`` (no prepared copy from GCS is looked for).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from data.sources import DataUnavailableError

CHUNK = 1 << 20


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (python -m pipelines prepare-tfds --help)\n")


class _DownloadRequested(Exception):
    """Raised by :class:`_Recorder` at the builder's first download call."""

    def __init__(self, urls: list[str]):
        super().__init__(urls)
        self.urls = urls


class _Recorder:
    """Stands in for the download manager: records the URLs asked for, downloads nothing."""

    def _record(self, resources: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise _DownloadRequested(list(_urls(resources)))

    download = download_and_extract = extract = _record

    @property
    def manual_dir(self) -> NoReturn:
        raise _DownloadRequested([])


def _urls(resources: Any) -> Iterator[str]:
    """Every URL in a download call's argument (a string, or lists/dicts of them)."""
    if isinstance(resources, dict):
        for value in resources.values():
            yield from _urls(value)
    elif isinstance(resources, list | tuple):
        for value in resources:
            yield from _urls(value)
    else:
        yield str(getattr(resources, "url", resources))


def requested_urls(builder: Any) -> list[str]:
    """The URLs ``builder`` downloads (its split generators run until the first download
    call). Raises :class:`DataUnavailableError` for a builder that downloads nothing."""
    try:
        builder._split_generators(_Recorder())
    except _DownloadRequested as requested:
        if requested.urls:
            return requested.urls
    raise DataUnavailableError(
        f"TFDS {builder.name}: its builder reads only a manual directory, not files "
        f"registered with checksums; see its MANUAL_DOWNLOAD_INSTRUCTIONS"
    )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_manual_files(builder: Any, manual_dir: Path) -> list[Path]:
    """The local copies of every file ``builder`` downloads, checked against its registered
    size and SHA-256; raises :class:`DataUnavailableError` (one line) for a file that has no
    registered checksum, is missing from ``manual_dir`` or differs."""
    name = builder.info.full_name
    registered = builder.url_infos or {}
    needs, paths = [], []
    for url in requested_urls(builder):
        info = registered.get(url)
        if info is None or not info.filename:
            raise DataUnavailableError(
                f"TFDS {name}: no checksum with a file name is registered for {url}, so "
                f"TFDS cannot take a local copy of it (it would download); prepare it where "
                f"there is network"
            )
        want = f"{info.filename} ({int(info.size):,} bytes, sha256 {info.checksum})"
        path = manual_dir / info.filename
        if not path.is_file():
            needs.append(f"{want} from {url}")
            continue
        size = path.stat().st_size
        if size != int(info.size):
            raise DataUnavailableError(
                f"{path}: {size:,} bytes; TFDS {name} needs {want}: not the registered file"
            )
        if (digest := sha256(path)) != info.checksum:
            raise DataUnavailableError(
                f"{path}: sha256 {digest}; TFDS {name} needs {want}: not the registered file"
            )
        paths.append(path)
    if needs:
        raise DataUnavailableError(
            f"TFDS {name} needs in --manual-dir {manual_dir}: {'; '.join(needs)}"
        )
    return paths


def prepare(name: str, manual_dir: Path, data_dir: Path | None) -> Path:
    """Builds TFDS ``name`` into ``data_dir`` (TFDS's default when None) from the files in
    ``manual_dir``; returns the dataset's directory."""
    import tensorflow_datasets as tfds

    from pipelines.spine import quiet

    # "Variant folder … has no dataset_info.json": TFDS's note that nothing is prepared yet.
    logging.getLogger("absl").setLevel(logging.ERROR)
    try:
        builder = tfds.builder(name, data_dir=str(data_dir) if data_dir else None)
    except tfds.core.registered.DatasetNotFoundError as err:
        raise DataUnavailableError(f"TFDS: {str(err).strip().splitlines()[0]}") from None
    if builder.is_prepared():
        say(f"{builder.info.full_name} is already prepared in {builder.data_dir}")
        return Path(builder.data_dir)
    files = check_manual_files(builder, manual_dir)
    say(f"{builder.info.full_name}: building from {', '.join(map(str, files))}")
    quiet.load_tensorflow(quiet.verbose_requested([]))  # TFDS imports it: without the noise
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=str(manual_dir), try_download_gcs=False
        )
    )
    say(f"prepared {builder.data_dir}")
    return Path(builder.data_dir)


def say(message: str) -> None:
    print(f"[prepare-tfds] {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    parser = _Parser(
        prog="python -m pipelines prepare-tfds",
        description="Build an official TFDS dataset offline from local copies of its "
        "source files (checked against TFDS's registered size and SHA-256).",
    )
    parser.add_argument("name", help="TFDS name, e.g. tiny_shakespeare or imdb_reviews")
    parser.add_argument(
        "--manual-dir", type=Path, required=True, help="folder holding the source file(s)"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="TFDS data dir (default: $TFDS_DATA_DIR or TFDS's)"
    )
    args = parser.parse_args(argv)
    if not args.manual_dir.is_dir():
        print(f"error: --manual-dir {args.manual_dir}: not a directory", file=sys.stderr)
        return 2
    try:
        prepare(args.name, args.manual_dir, args.data_dir)
    except DataUnavailableError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
