"""The audit trail of actions (``audit_logs``): who did what, from where."""
