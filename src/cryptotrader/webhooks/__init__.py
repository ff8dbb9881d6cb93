"""Signed webhook delivery per the Standard Webhooks specification (pure-Python core)."""
