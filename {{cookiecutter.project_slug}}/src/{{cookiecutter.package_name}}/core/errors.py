"""The errors a user can fix, reported by `python -m {{ cookiecutter.package_name }}` as one line, no traceback.

They live apart from config.py so that any module (training/models.py, whose family table config.py checks) can raise them
without importing the config.
"""


class UserError(Exception):
    """A problem the user can fix (bad params, data or environment): reported as one message, no traceback."""


class ConfigError(UserError):
    """params.yaml is missing, unreadable or does not match the expected shape."""


class MissingFile(UserError, FileNotFoundError):
    """A file the user must bring or make (data, a suite, an earlier stage's output) is not there: the message names
    it and what makes it. Any other FileNotFoundError is a bug and keeps its traceback."""
