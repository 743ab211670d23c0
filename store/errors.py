"""The store's exception vocabulary; every backend wraps its own errors in these."""


class StoreError(Exception):
    """Base class for every persistence error raised by anxin."""


class StoreUnavailable(StoreError):
    """The backend cannot be reached right now; retry later, nothing was written."""


class StoreRefused(StoreError):
    """The backend refused this write for good (a bad request): retrying the same data cannot help."""


class InvalidData(StoreError):
    """The database refused a value as data (a NUL character in text, a number out of range)."""


class ConfigError(StoreError):
    """A store URL or setting is wrong; the message says what to change."""


class NotFound(StoreError):
    """The requested record does not exist."""


class InvalidTransition(StoreError):
    """An alert cannot move to the requested status from the one it is in."""


class CsvFormatError(ValueError):
    """A CSV file does not follow the documented columns; the message names the problem."""
