"""The two errors a user can fix, reported by `python -m {{ cookiecutter.package_name }}` as one line, no traceback.

They live apart from config.py so that any module (models.py, whose family table config.py checks) can raise them
without importing the config.
"""


class UserError(Exception):
    """A problem the user can fix (bad params, data or environment): reported as one message, no traceback."""


class ConfigError(UserError):
    """params.yaml is missing, unreadable or does not match the expected shape."""
