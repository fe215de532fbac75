"""Quiet by default: stderr carries our own progress lines and errors, not TensorFlow's.

Importing TensorFlow prints native log lines (``I0000 ... port.cc] oneDNN custom operations
are on``, ``cudart_stub.cc] Could not find cuda drivers``, ``cpu_feature_guard``, each
group after "WARNING: All log messages before absl::InitializeLog() is called are written to
STDERR"). They come from absl before TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL``, so no
environment variable hides them. Later native lines (``E0000 ... failed call to cuInit``, the
oneDNN int32 notice) do honour ``TF_CPP_MIN_LOG_LEVEL=3``.

So an entry point calls :func:`configure` first (sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless
verbose), then :func:`load_tensorflow` where it is ready to pay for the import: stderr (file
descriptor 2) goes to a temporary file while TensorFlow and Keras load, and afterwards every
line but the known start-up noise is written out, so a real error or traceback still shows.
``--verbose`` (or ``PIPELINES_VERBOSE=1``) leaves everything as TensorFlow prints it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence

VERBOSE_FLAG = "--verbose"
VERBOSE_ENV = "PIPELINES_VERBOSE"

# Start-up lines of the native runtime that say nothing about the run. INFO and WARNING
# records (I/W + MMDD), and the ERROR records a machine without a usable GPU always gets.
NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    r"|E\d{4} [\d:.]+ +\d+ \S+:\d+\] (?:failed call to cuInit"
    r"|Unable to register cu(?:DNN|FFT|BLAS) factory"
    r"|oneDNN supports DT_)"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate "
    r"compiler flags\."
)


def verbose_requested(argv: Sequence[str]) -> bool:
    """Whether ``argv`` has ``--verbose`` or ``PIPELINES_VERBOSE`` is set (not 0/empty)."""
    return VERBOSE_FLAG in argv or os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def configure(verbose: bool) -> None:
    """Before TensorFlow is imported: hide its native log lines unless ``verbose``."""
    if not verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"


def is_noise(line: str) -> bool:
    """Whether one stderr line is known TensorFlow start-up noise."""
    return NOISE.match(line) is not None


def load_tensorflow(verbose: bool) -> None:
    """Imports TensorFlow and Keras (once), dropping their start-up noise unless
    ``verbose``; anything else they print still reaches stderr."""
    with contextlib.nullcontext() if verbose else filtered_stderr():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


@contextlib.contextmanager
def stderr_fd_to(target_fileno: int) -> Iterator[None]:
    """Runs the block with file descriptor 2 pointing at ``target_fileno`` (native code writes
    to the file descriptor directly, so ``sys.stderr`` alone cannot catch it)."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(target_fileno, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Runs the block with file descriptor 2 sent to a temporary file, then writes what was
    captured to stderr without the :func:`is_noise` lines."""
    with tempfile.TemporaryFile() as capture:
        try:
            with stderr_fd_to(capture.fileno()):
                yield
        finally:
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
