"""What a signature's input or output is: dtype and shape, without TensorFlow."""

from __future__ import annotations

from typing import NamedTuple


class TensorInfo(NamedTuple):
    """A tensor's dtype name (``"string"``, ``"float32"``, ``"int32"``, …) and shape, ``None``
    for a dimension of any size (``()`` is a scalar)."""

    dtype: str
    shape: tuple[int | None, ...]

    def shape_text(self) -> str:
        """The shape as TF Serving clients read it: ``[-1, 120, 11]``, ``[]`` for a scalar."""
        return "[" + ", ".join("-1" if d is None else str(d) for d in self.shape) + "]"

    def as_json(self) -> dict:
        """``{"dtype": "string", "shape": [-1]}`` (``-1``: any size)."""
        return {"dtype": self.dtype, "shape": [-1 if d is None else d for d in self.shape]}
