"""Errors of the database layer, each with one meaning."""


class DatabaseError(Exception):
    """Base of the errors below."""


class DatabaseUnavailable(DatabaseError):
    """The server did not answer; the message names host and port."""


class MigrationError(DatabaseError):
    """A migration could not be applied, or the applied ones no longer match the files."""


class BackupError(DatabaseError):
    """pg_dump or pg_restore failed or could not be found."""
