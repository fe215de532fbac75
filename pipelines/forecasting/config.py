"""Forecasting config sections (``configs/forecasting*.yaml``) and the info learned from the data.

The dataclass defaults describe Jena Climate; the shipped configs read Beijing PM2.5 (and
Melbourne daily minimum temperatures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from data.timeseries_csv import iso, settings_problem
from data.timeseries_windows import chronological_split
from pipelines.spine.config import param
from pipelines.spine.sections import MAX_WIDTH, CellName, RNNConfig, TaskConfig, epoch_metrics

if TYPE_CHECKING:
    from data.forecast_series import SeriesSplits
    from data.timeseries_csv import SeriesTable

MAX_ROWS = 10_000_000  # window lengths and offsets, in rows
TYPICAL_FEATURES = 16  # numeric columns of a CSV when data.features is empty (Jena has 14)
CATEGORIES = 4  # one-hot columns per categorical column (Beijing's wind direction has 4)
JENA_URL = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/jena_climate_2009_2016.csv.zip"
)


@dataclass(frozen=True)
class ForecastingData:
    """Which CSV, how to read it, and how rows become windows (defaults: Jena Climate)."""

    source: Literal["sample", "files", "url"] = param(
        "url", doc="url: download once (Keras cache); files: data.path; sample: data.sample_file"
    )
    url: str = param(JENA_URL, doc="url source: a CSV, or a zip/tar holding data.url_member")
    url_member: str | None = param(
        "jena_climate_2009_2016.csv", doc="file inside the downloaded archive; null = plain CSV"
    )
    cache_dir: str | None = param(None, doc="download cache; null = $KERAS_HOME or ~/.keras")
    path: str = param(
        "beijing_pm25/pollution.csv.gz", doc="files source: a CSV (plain or .gz) under DATA_ROOT"
    )
    sample_file: str = param("beijing_pm25_2014.csv.gz", doc="under data/samples/forecasting")
    time_column: str | None = param("Date Time", doc="timestamp column (or use time_parts)")
    time_format: str | None = param(
        "%d.%m.%Y %H:%M:%S", doc="strftime format of time_column; null = ISO 8601"
    )
    time_parts: tuple[str, ...] | None = param(
        None, doc="instead of time_column: year, month, day[, hour[, minute[, second]]] columns"
    )
    features: tuple[str, ...] = param(
        (), doc="numeric input columns; empty = all numeric but time, categorical, index-like"
    )
    targets: tuple[str, ...] = param(
        ("T (degC)",), doc="forecast column(s), also inputs; one-hot ones: <column>=<category>"
    )
    categorical: tuple[str, ...] = param(
        (), doc="columns one-hot encoded as inputs (<column>=<category>, categories sorted)"
    )
    missing: Literal["interpolate", "ffill", "drop"] = param(
        "ffill",
        doc="ffill: gap rows added, the last value carried forward (past values only) | "
        "interpolate: filled linearly, which reads the value after each gap (a look-ahead of "
        "up to max_fill_gap rows) | drop: incomplete rows",
    )
    frequency: str | None = param(None, doc="pandas offset alias (h, D, 10min); null = median step")
    max_fill_gap: int | None = param(
        168,
        min=0,
        doc="interpolate/ffill: most consecutive missing values (rows) filled per column; a "
        "longer run is an error; null = no limit",
    )
    time_features: tuple[Literal["day", "year"], ...] = param(
        (), doc="add sin/cos of the time of day and/or year as input features"
    )
    split: tuple[float, ...] = param(
        (0.5, 0.25, 0.25), doc="train/validation/test fractions of the rows, in time order"
    )
    lookback: int = param(120, min=1, max=MAX_ROWS, doc="input steps per window")
    sampling_rate: int = param(6, min=1, max=MAX_ROWS, doc="rows between input steps")
    delay: int = param(
        144, min=1, max=MAX_ROWS, doc="rows from the last input row to the (first) target"
    )
    horizon: int = param(1, min=1, max=MAX_ROWS, doc="consecutive target rows forecast")
    season: int | None = param(
        144,
        min=1,
        max=MAX_ROWS,
        doc="seasonal naive: the value this many rows before the target (>= delay + horizon - 1)"
        "; null = none",
    )
    plot_windows: int = param(336, min=1, max=MAX_ROWS, doc="windows drawn in forecast_<split>.png")

    def input_width(self) -> int:
        """About how many input features a window step has: the configured columns (or a
        typical count when ``features`` is empty: all numeric columns), one-hot categories
        and calendar features."""
        columns = len(self.features) + len(self.targets) if self.features else TYPICAL_FEATURES
        return columns + CATEGORIES * len(self.categorical) + 2 * len(self.time_features)

    def check(self) -> tuple[str, str] | None:
        """Rules across data keys that need no data, checked when the config loads (before
        TensorFlow is imported or a file read): at least one target, the column settings
        (``data.timeseries_csv.settings_problem``), three split fractions each positive
        (every split must hold a window), and a season known at the forecast origin."""
        if not self.targets:
            return "targets", "give at least one target column"
        problem = settings_problem(self)
        if problem is not None:
            return problem
        try:
            chronological_split(0, self.split)  # three finite fractions summing to 1
        except ValueError as err:
            return "split", str(err)
        if min(self.split) <= 0:
            why = "every fraction must be positive (each split needs a window)"
            return "split", f"{why}: {list(self.split)}"
        if self.season is not None and self.season < self.delay + self.horizon - 1:
            return "season", (
                f"{self.season} rows is not known at the forecast origin (needs >= delay + "
                f"horizon - 1 = {self.delay + self.horizon - 1})"
            )
        return None


@dataclass(frozen=True)
class ForecastingRNN(RNNConfig):
    """The shared recurrent stack with forecasting defaults: one forward GRU layer."""

    cell: CellName = param("gru", doc="recurrent cell; ln_* are layer-normalised (Ba et al. 2016)")
    units: int = param(32, min=1, max=MAX_WIDTH, doc="units per direction")
    bidirectional: bool = param(False, doc="each layer reads both directions")


@dataclass(frozen=True)
class ForecastingModel:
    """The network that forecasts, and the ridge baseline it is compared with."""

    architecture: Literal["conv_rnn", "rnn", "linear"] = param(
        "conv_rnn",
        doc="conv_rnn: Conv1D+MaxPooling1D blocks, then the stack; rnn: the stack alone; linear",
    )
    conv_filters: tuple[int, ...] = param((32, 32), doc="filters per Conv1D+MaxPooling1D block")
    conv_kernel_size: int = param(5, min=1, max=10_000, doc="Conv1D width in (sampled) steps")
    pool_size: int = param(2, min=1, max=10_000, doc="MaxPooling1D width and stride of each block")
    conv_dropout: float = param(0.0, min=0.0, max=0.95, doc="channel dropout after the convs")
    rnn: ForecastingRNN = field(default_factory=ForecastingRNN)
    head_units: int = param(0, min=0, max=MAX_WIDTH, doc="ReLU layer before the output; 0 = none")
    head_dropout: float = param(0.0, min=0.0, max=0.95, doc="dropout before the output layer")
    predict_delta: bool = param(True, doc="forecast the change from the last observed value")
    highway: Literal["none", "learned", "ridge", "ridge_frozen"] = param(
        "none",
        doc="linear map of the window added to the output (LSTNet): learned, or from the ridge "
        "fit (frozen: kept)",
    )
    loss: Literal["mse", "mae", "huber"] = param("mse", doc="on normalised targets")
    linear_l2: float = param(
        10.0, min=0.0, doc="ridge penalty of the linear baseline (and of the ridge* highway)"
    )

    def check(self) -> tuple[str, str] | None:
        for i, filters in enumerate(self.conv_filters):
            if not 1 <= filters <= MAX_WIDTH:
                allowed = f"allowed: 1 to {MAX_WIDTH}"
                return f"conv_filters[{i}]", f"{filters} is out of range ({allowed})"
        return None


@dataclass(frozen=True)
class ForecastingConfig(TaskConfig):
    """One forecasting run: data, model and training."""

    task: Literal["forecasting"] = param("forecasting", doc="the task this config is for")
    data: ForecastingData = field(default_factory=ForecastingData)
    model: ForecastingModel = field(default_factory=ForecastingModel)

    def logged_metrics(self) -> dict[str, Literal["min", "max"]]:
        return epoch_metrics({"mae": "min"})  # ForecastingTask.compile_args

    def estimated_parameters(self) -> int:
        """``models.conv_rnn_forecaster`` / ``linear_forecaster``'s weights, about."""
        m, d = self.model, self.data
        features, outputs = d.input_width(), d.horizon * len(d.targets)
        window = d.lookback * features
        if m.architecture == "linear":
            return (window + 1) * outputs
        total, width = 0, features
        for filters in m.conv_filters if m.architecture == "conv_rnn" else ():
            total += m.conv_kernel_size * width * filters + filters
            width = filters
        total += m.rnn.estimated_parameters(width)
        width = m.rnn.output_width()
        if m.head_units:
            total += (width + 1) * m.head_units
            width = m.head_units
        highway = (window + 1) * outputs if m.highway != "none" else 0
        return total + (width + 1) * outputs + highway


@dataclass
class ForecastingInfo:
    """Facts learned from the data: the input layout and the train statistics."""

    feature_names: list[str]  # input order of serving windows [batch, lookback, features]
    target_names: list[str]
    target_indices: list[int]  # of each target among feature_names
    mean: list[float]  # per feature, train rows only
    std: list[float]
    lookback: int
    sampling_rate: int
    delay: int
    horizon: int
    frequency: str | None
    source: str
    rows: int
    first_time: str
    last_time: str
    split_rows: dict[str, list[int]]  # [start, stop) per split
    windows: dict[str, int]
    load_report: dict[str, Any]
    # What the missing-value policy did (defaults: info.json files written before they existed)
    rows_dropped: int = 0  # rows removed (drop: rows with a missing value; ffill: leading)
    values_filled: int = 0  # missing cells filled (interpolate / ffill)
    longest_filled_gap: dict[str, Any] = field(default_factory=dict)  # column → values, from
    gaps_left: int = 0  # drop: load_report.gap_count, left in the rows used; else 0 (filled)

    @classmethod
    def learned(
        cls, data: ForecastingData, table: SeriesTable, splits: SeriesSplits
    ) -> ForecastingInfo:
        """The info of a run from its data section, loaded table and splits."""
        return cls(
            feature_names=list(table.feature_names),
            target_names=list(data.targets),
            target_indices=list(table.target_indices),
            mean=splits.mean.tolist(),
            std=splits.std.tolist(),
            lookback=data.lookback,
            sampling_rate=data.sampling_rate,
            delay=data.delay,
            horizon=data.horizon,
            frequency=table.report.frequency,
            source=table.report.path if data.source != "url" else data.url,
            rows=len(table),
            first_time=iso(table.times[0]),
            last_time=iso(table.times[-1]),
            split_rows={k: [s.start, s.stop] for k, s in splits.rows.items()},
            windows=splits.windows,
            load_report=table.report.as_dict(),
            rows_dropped=table.report.rows_dropped,
            values_filled=table.report.values_filled,
            longest_filled_gap=table.report.as_dict()["longest_filled_gap"],
            gaps_left=table.report.gap_count if data.missing == "drop" else 0,
        )

    def summary(self) -> str:
        """One line on what was read: rows, time span, missing values, gaps, windows."""
        report = self.load_report
        filled = {k: v for k, v in report["missing_before"].items() if v}
        return (
            f"{self.source}: {report['rows_read']} rows read, {self.rows} used "
            f"({self.first_time} .. {self.last_time}, step {self.frequency}); missing values "
            f"({report['policy']}): {filled or 'none'}, {report['values_filled']} filled, "
            f"{report['rows_dropped']} rows dropped; {report['gap_count']} gap(s) of missing "
            f"timestamps ({report['gap_timestamps']} timestamps; {report['file_gap_count']} "
            f"gap(s) in the file's time index), {report['rows_inserted']} rows inserted; "
            f"windows {self.windows}"
        )

    def data_notes(self) -> list[str]:
        """A line for each thing the reader or the missing-value policy dropped or filled
        (empty when nothing was): duplicate rows, rows dropped and the gaps left, the longest
        run filled per column."""
        notes = []
        duplicates = self.load_report.get("duplicates", 0)
        if duplicates:
            notes.append(
                f"{self.source}: dropped {duplicates} duplicate row(s) repeating the previous "
                f"row's timestamp and values exactly"
            )
        if self.rows_dropped:
            policy = self.load_report["policy"]
            why = "a missing value" if policy == "drop" else "nothing to fill them from"
            notes.append(
                f"{self.source}: dropped {self.rows_dropped} row(s) with {why} "
                f"(data.missing: {policy})"
            )
        if self.gaps_left:
            notes.append(
                f"{self.source}: {self.gaps_left} gap(s) of missing timestamps left in the rows "
                f"used, in the file or left by the dropped rows (data.missing: drop); windows "
                f"may span them"
            )
        if self.longest_filled_gap:
            runs = ", ".join(
                f"{name} {run['values']} from {run['from']}"
                for name, run in self.longest_filled_gap.items()
            )
            notes.append(
                f"{self.source}: filled {self.values_filled} missing value(s); longest run per "
                f"column: {runs} (data.max_fill_gap: {self.load_report['max_fill_gap']})"
            )
        return notes
