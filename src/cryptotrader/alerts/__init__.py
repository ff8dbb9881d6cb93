"""Alerts: price alerts evaluated set-based on every price refresh (docs/alerts.md)."""
