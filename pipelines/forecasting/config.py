"""Forecasting config sections (``configs/forecasting*.yaml``) and the info learned from the data.

The dataclass defaults describe Jena Climate; the shipped configs read Beijing PM2.5 (and
Melbourne daily minimum temperatures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from data.timeseries_csv import iso
from pipelines.spine.config import param
from pipelines.spine.sections import CellName, RNNConfig, TaskConfig

if TYPE_CHECKING:
    from data.forecast_series import SeriesSplits
    from data.timeseries_csv import SeriesTable

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
        "interpolate",
        doc="interpolate: gap rows added, filled linearly | ffill: carry forward | "
        "drop: incomplete rows",
    )
    frequency: str | None = param(None, doc="pandas offset alias (h, D, 10min); null = median step")
    time_features: tuple[Literal["day", "year"], ...] = param(
        (), doc="add sin/cos of the time of day and/or year as input features"
    )
    split: tuple[float, ...] = param(
        (0.5, 0.25, 0.25), doc="train/validation/test fractions of the rows, in time order"
    )
    lookback: int = param(120, min=1, doc="input steps per window")
    sampling_rate: int = param(6, min=1, doc="rows between input steps")
    delay: int = param(144, min=1, doc="rows from the last input row to the (first) target")
    horizon: int = param(1, min=1, doc="consecutive target rows forecast")
    season: int | None = param(
        144,
        min=1,
        doc="seasonal naive: the value this many rows before the target (>= delay + horizon - 1)"
        "; null = none",
    )
    plot_windows: int = param(336, min=1, doc="windows drawn in forecast_<split>.png")


@dataclass(frozen=True)
class ForecastingRNN(RNNConfig):
    """The shared recurrent stack with forecasting defaults: one forward GRU layer."""

    cell: CellName = param("gru", doc="recurrent cell; ln_* are layer-normalised (Ba et al. 2016)")
    units: int = param(32, min=1, doc="units per direction")
    bidirectional: bool = param(False, doc="each layer reads both directions")


@dataclass(frozen=True)
class ForecastingModel:
    """The network that forecasts, and the ridge baseline it is compared with."""

    architecture: Literal["conv_rnn", "rnn", "linear"] = param(
        "conv_rnn",
        doc="conv_rnn: Conv1D+MaxPooling1D blocks, then the stack; rnn: the stack alone; linear",
    )
    conv_filters: tuple[int, ...] = param((32, 32), doc="filters per Conv1D+MaxPooling1D block")
    conv_kernel_size: int = param(5, min=1, doc="Conv1D width in (sampled) steps")
    pool_size: int = param(2, min=1, doc="MaxPooling1D width and stride of each block")
    conv_dropout: float = param(0.0, min=0.0, max=0.95, doc="channel dropout after the convs")
    rnn: ForecastingRNN = field(default_factory=ForecastingRNN)
    head_units: int = param(0, min=0, doc="ReLU layer before the output; 0 = none")
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


@dataclass(frozen=True)
class ForecastingConfig(TaskConfig):
    """One forecasting run: data, model and training."""

    task: Literal["forecasting"] = param("forecasting", doc="the task this config is for")
    data: ForecastingData = field(default_factory=ForecastingData)
    model: ForecastingModel = field(default_factory=ForecastingModel)


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
        )

    def summary(self) -> str:
        """One line on what was read: rows, time span, missing values, gaps, windows."""
        report = self.load_report
        filled = {k: v for k, v in report["missing_before"].items() if v}
        return (
            f"{self.source}: {report['rows_read']} rows read, {self.rows} used "
            f"({self.first_time} .. {self.last_time}, step {self.frequency}); missing values "
            f"({report['policy']}): {filled or 'none'}, {report['values_filled']} filled, "
            f"{report['rows_dropped']} rows dropped; {report['gap_count']} gap(s) in the time "
            f"index ({report['gap_timestamps']} timestamps, {report['rows_inserted']} rows "
            f"inserted); windows {self.windows}"
        )
