"""Errors a user can cause and fix: the CLI prints them as one line and exits with status 2."""


class GankitError(Exception):
    """A problem with the user's input (config, data, paths, checkpoints), not a bug in gankit."""


class ConfigError(GankitError, ValueError):
    """The configuration names an unknown key, has a wrong type or an out-of-range value."""


class DataError(GankitError):
    """A dataset is missing, corrupt or does not fit the model."""


class CheckpointError(GankitError):
    """A checkpoint or run folder is missing, corrupt or does not match the model."""


class RunError(GankitError):
    """A run folder cannot be created, resumed or used as asked."""
