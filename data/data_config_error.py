"""The error of a ``data.*`` setting that does not fit the data it is applied to."""

from __future__ import annotations


class DataConfigError(ValueError):
    """A ``data.*`` config value the data cannot honour (e.g. a split shorter than one window);
    the one-line message names the key, ``data.key: what is wrong``, and starts with the file
    when a file's data is what the value does not fit (``FILE: ... data.key ...``).

    It lives in ``data/`` (which never imports ``pipelines/``); the CLI prints it like a
    ``ConfigError``, as one ``error:`` line.
    """
