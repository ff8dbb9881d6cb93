"""The admin capability: users and bans, every user's accounts and their suspension, the
platform's templates, the platform's state (administrators and the CLI only)."""
