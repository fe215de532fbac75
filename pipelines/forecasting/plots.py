"""Forecasting plots (matplotlib, Agg backend): forecast vs actual, and training curves."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipelines.spine.atomic import atomic_path

if TYPE_CHECKING:
    from pipelines.forecasting.config import ForecastingInfo
    from pipelines.forecasting.forecasts import SplitForecasts


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers
    import matplotlib.pyplot as plt

    return plt


def plot_forecast(
    path: Path,
    times: np.ndarray,
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    title: str,
    ylabel: str,
) -> Path:
    """Actual values and each named forecast over the same target times, as a PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 4), dpi=100)
    ax.plot(times, actual, color="black", linewidth=1.6, label="actual")
    for name, values in forecasts.items():
        ax.plot(times, values, linewidth=1.0, label=name)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    with atomic_path(path) as temp:
        fig.savefig(temp)
    plt.close(fig)
    return path


def report_plots(
    run_dir: Path, split: str, result: SplitForecasts, info: ForecastingInfo, windows: int
) -> list[Path]:
    """``forecast_<split>.png`` and, once training wrote ``history.csv``,
    ``training_curves.png`` in ``run_dir``."""
    forecast = plot_split_forecasts(run_dir / f"forecast_{split}.png", result, info, split, windows)
    curves = plot_training_curves(run_dir / "training_curves.png", run_dir / "history.csv")
    return [forecast] + ([curves] if curves else [])


def plot_split_forecasts(
    path: Path, result: SplitForecasts, info: ForecastingInfo, split: str, windows: int
) -> Path:
    """The first ``windows`` windows of a split: actual vs the model, persistence and linear
    forecasts (first target, first horizon step)."""
    count = min(windows, len(result.actual))
    target = info.target_names[0]
    chosen = {k: v[:count, 0, 0] for k, v in result.forecasts.items() if k != "seasonal"}
    return plot_forecast(
        path,
        result.target_times[:count, 0],
        result.actual[:count, 0, 0],
        chosen,
        title=f"{target}: forecast {info.delay} rows ahead vs actual ({split} split, "
        f"first {count} windows)",
        ylabel=target,
    )


def plot_training_curves(path: Path, history_csv: Path) -> Path | None:
    """Loss and MAE per epoch (train and validation) from the runner's ``history.csv``."""
    if not history_csv.exists():
        return None
    with history_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return None
    plt = _pyplot()
    metrics = [m for m in ("loss", "mae") if m in rows[0]]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), dpi=100)
    axes = np.atleast_1d(axes)
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for ax, metric in zip(axes, metrics, strict=True):
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            if key in rows[0]:
                ax.plot(epochs, [float(r[key]) for r in rows], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_title(f"{metric} (normalised units)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    with atomic_path(path) as temp:
        fig.savefig(temp)
    plt.close(fig)
    return path
