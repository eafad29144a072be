"""Errors the command line turns into exit code 2 with a one-line reason."""


class UsageError(Exception):
    """Bad usage or bad input: the message says what was wrong and what to do."""


class DataError(UsageError):
    """A dataset on disk does not match its manifest (missing/partial shard, corrupt record)."""
