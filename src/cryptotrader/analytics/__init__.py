"""Performance analytics: the metrics library (backtests now, account analytics later)."""
