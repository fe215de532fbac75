"""Command-line helpers the benchmark suites share."""

from __future__ import annotations

from collections.abc import Iterable


def split_names(text: str, allowed: Iterable[str], what: str) -> list[str]:
    """Comma-separated names of ``--<what>``, each one of ``allowed`` (else a one-line exit)."""
    allowed = list(allowed)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise SystemExit(
            f"error: --{what}: unknown {', '.join(unknown)} (known: {', '.join(allowed)})"
        )
    return names
