"""User-facing errors.

Every error a user can cause by input (a config key, a path, a CLI flag) is a
:class:`ManifoldLensError` whose message is one line naming the field and the
fix. The CLI prints it without a traceback and exits with status 2.
"""


class ManifoldLensError(Exception):
    """Base class for errors caused by user input; the message is one line."""


class ConfigError(ManifoldLensError, ValueError):
    """A config key has a bad value, or does not exist."""


class StoreError(ManifoldLensError):
    """A path is not a readable store of the expected kind and version."""
