"""A CSV file's rows as text cells, each with the line of the file it starts on.

Lines are counted as a text editor counts them: split on ``\\n`` (a ``\\r\\n`` ending is one
line end; a file with only ``\\r`` endings is split on those), the header is the first
non-blank line. A quoted cell may span lines (its row is numbered by the line it starts on);
a ``\\r`` inside a line is an ordinary character (pandas would start a new row there and
number every later row wrongly). Every row must have as many fields as the header: a row
with more or fewer is an error naming its line, never padded or cut silently. Cells are
stripped; empty cells and pandas' missing markers (``NA``, ``NaN``, ``null``, ...) become
NaN. Rows whose cells are all empty are skipped (they carry no value; a gap in time is
reported by the time-series reader).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import numpy as np
import pandas as pd

from data.data_format_error import DataFormatError
from data.text_files import read_text

# pandas.read_csv's default missing-value markers, matched after stripping the cell.
NA_MARKERS = frozenset(
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    }
)  # fmt: skip
_CR = "\ue000"  # a private-use character standing for a "\r" while the csv module reads


def read_csv_rows(path: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The data rows of the CSV file ``path`` as stripped text (missing cells NaN) under the
    header's column names, and the line each row starts on (see the module docstring)."""
    text = read_text(path)  # one-line errors for a directory, bad gzip, non-UTF-8 bytes
    records = _records(path, text)
    header = next(records, None)
    if header is None:
        raise DataFormatError(f"{path}: no header line (the file is empty or blank)")
    header_line, names = header
    columns = _column_names(path, header_line, names)
    rows, lines = [], []
    for line, fields in records:
        if len(fields) != len(columns):
            raise DataFormatError(
                f"{path}:{line}: expected {len(columns)} fields as in the header (line "
                f"{header_line}), found {len(fields)}"
            )
        rows.append([field.strip() for field in fields])
        lines.append(line)
    if not rows:
        raise DataFormatError(f"{path}: no data rows")
    frame = pd.DataFrame(rows, columns=columns, dtype=str)
    frame = frame.where(~frame.isin(NA_MARKERS))
    return frame, np.asarray(lines, dtype=np.int64)


def _physical_lines(text: str) -> Iterator[str]:
    """Each line with a plain ``\\n`` ending; a ``\\r`` inside it stands in as ``_CR``."""
    ends_with_cr = "\n" not in text and "\r" in text  # classic Mac line ends
    lines = text.split("\r") if ends_with_cr else text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the last line's end
    for line in lines:
        yield line.removesuffix("\r").replace("\r", _CR) + "\n"


def _records(path: str, text: str) -> Iterator[tuple[int, list[str]]]:
    """(line the row starts on, its fields) for every row that is not blank."""
    reader = csv.reader(_physical_lines(text), strict=True)
    stand_ins = "\r" in text.replace("\r\n", "")  # a "\r" inside a line (or Mac ends)?
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            detail = str(err)
            if "unexpected end of data" in detail:  # strict: an open quote at the end
                detail = "a quoted cell opened on this line is never closed"
            raise DataFormatError(f"{path}:{start}: malformed CSV ({detail})") from None
        if "".join(fields).strip():
            yield start, [f.replace(_CR, "\r") for f in fields] if stand_ins else fields
        start = reader.line_num + 1


def _column_names(path: str, line: int, names: list[str]) -> list[str]:
    """The header's names, stripped; an empty one is named ``Unnamed: <i>`` as pandas does,
    a repeated one is an error."""
    columns = [name.strip() or f"Unnamed: {i}" for i, name in enumerate(names)]
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise DataFormatError(f"{path}:{line}: column '{name}' appears twice in the header")
        seen.add(name)
    return columns
