"""Forecasting: multivariate CSV time series → Conv1D + GRU forecasts, scored against baselines."""
