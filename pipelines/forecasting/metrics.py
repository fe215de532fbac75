"""Forecasting metrics: MAE/RMSE of the model and of every baseline on the same windows."""

from __future__ import annotations

from typing import Any

from data.timeseries_csv import iso
from data.timeseries_windows import mae, rmse
from pipelines.forecasting.config import ForecastingData, ForecastingInfo
from pipelines.forecasting.forecasts import SplitForecasts

WINDOW_RULE = (
    "every window whose inputs and targets lie inside the split; all "
    "forecasts are scored on these same windows, in original units"
)
EVERY_ROW_NOTE = (
    "persistence_mae_every_row scores persistence on every row of the split "
    "(inputs may reach back into the previous split), i.e. on more targets "
    "than the windows; it is the figure usually quoted for this split"
)


def split_metrics(
    result: SplitForecasts, data: ForecastingData, info: ForecastingInfo
) -> dict[str, Any]:
    """The metrics record of one split: scores, then how its windows were chosen."""
    first, last = result.target_times[0, 0], result.target_times[-1, -1]
    same = data.season == info.delay and info.horizon == 1
    return {
        "examples": len(result.actual),
        "target": ", ".join(info.target_names),
        **score(result, info),
        "persistence_mae_every_row": result.persistence_every_row,
        "windows": {
            "rule": WINDOW_RULE,
            "lookback": info.lookback,
            "sampling_rate": info.sampling_rate,
            "delay": info.delay,
            "horizon": info.horizon,
            "season": data.season,
            "first_target_time": iso(first),
            "last_target_time": iso(last),
            "note": EVERY_ROW_NOTE
            + ("; season == delay, so seasonal naive equals persistence" if same else ""),
        },
    }


def score(result: SplitForecasts, info: ForecastingInfo) -> dict[str, Any]:
    """MAE/RMSE of every forecast (overall, per horizon step, per target)."""
    metrics: dict[str, Any] = {}
    order = ["model", "persistence", "seasonal", "linear"]
    for name in [n for n in order if n in result.forecasts]:
        prefix = "" if name == "model" else f"{name}_"
        values = result.forecasts[name]
        metrics[f"{prefix}mae"] = mae(result.actual, values)
        metrics[f"{prefix}rmse"] = rmse(result.actual, values)
    metrics["improvement_over_persistence"] = 1.0 - metrics["mae"] / metrics["persistence_mae"]
    if info.horizon > 1:
        metrics["per_step_mae"] = {
            name: [mae(result.actual[:, s], v[:, s]) for s in range(info.horizon)]
            for name, v in result.forecasts.items()
        }
    if len(info.target_names) > 1:
        metrics["per_target_mae"] = {
            target: {
                name: mae(result.actual[..., j], v[..., j]) for name, v in result.forecasts.items()
            }
            for j, target in enumerate(info.target_names)
        }
    return metrics
