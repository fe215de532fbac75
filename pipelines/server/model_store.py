"""The models a server answers for, by name."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.server.request_error import RequestError
from pipelines.server.run_exports import run_task

if TYPE_CHECKING:  # it imports TensorFlow: loaded only by ModelStore.load
    from pipelines.server.served_model import ServedModel

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class ModelStore:
    """Served models by name, in the order given. :meth:`plan` checks names and run
    directories without TensorFlow; :meth:`load` loads them."""

    def __init__(self, models: Sequence[ServedModel]) -> None:
        self.models = {m.name: m for m in models}

    @staticmethod
    def plan(specs: Sequence[str | Path]) -> list[tuple[str, Path]]:
        """``[NAME=]RUN_DIR`` arguments → (name, run directory) pairs; the name defaults to the
        run's task. Raises ``ValueError`` (one line) on a bad name, a run without an export or
        two models of one name."""
        planned: list[tuple[str, Path]] = []
        for spec in specs:
            name, sep, path = str(spec).partition("=")
            run_dir = Path(path if sep else spec)
            task = run_task(run_dir)
            name = name if sep else task
            if not NAME.fullmatch(name):
                raise ValueError(f"{spec}: model name {name!r}: use letters, digits, '_', '.', '-'")
            if any(name == other for other, _ in planned):
                raise ValueError(
                    f"{spec}: two models named {name!r}: name them, e.g. {name}2={run_dir}"
                )
            planned.append((name, run_dir))
        return planned

    @classmethod
    def load(
        cls, planned: Sequence[tuple[str, Path]], say: Callable[[str], None] = lambda _: None
    ) -> ModelStore:
        """Loads every planned model (``say`` gets a progress line per model)."""
        from pipelines.server.served_model import ServedModel

        models = []
        for name, run_dir in planned:
            say(f"loading {name} from {run_dir}")
            try:
                models.append(ServedModel.load(name, run_dir))
            except (OSError, ValueError) as err:  # a damaged export: one line naming it
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                raise ValueError(
                    f"{run_dir}: cannot load its export ({type(err).__name__}: {first})"
                ) from err
        return cls(models)

    def get(self, name: str) -> ServedModel:
        """The model called ``name`` (404 naming the served ones when there is none)."""
        if name not in self.models:
            raise RequestError(
                404, f"model {name!r} not found (serving: {', '.join(self.models) or 'none'})"
            )
        return self.models[name]

    def __iter__(self) -> Iterator[ServedModel]:
        return iter(self.models.values())
