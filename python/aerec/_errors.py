"""The exceptions aerec raises.

Every error of the engine is an :class:`AerecError`; the ones about bad
input are also :class:`ValueError`, a missing file also
:class:`FileNotFoundError`, so ordinary ``except`` clauses work. The message
is the engine's own, with the file, line and context the CLI prints.
"""


class AerecError(Exception):
    """Any error raised by aerec's engine."""


class AerecValueError(AerecError, ValueError):
    """Input that cannot be used as given: a bad rating, an unknown id,
    invalid settings, a malformed file or model file."""


class AerecFileNotFoundError(AerecError, FileNotFoundError):
    """A file that does not exist."""


class AerecOSError(AerecError, OSError):
    """Any other operating-system error while reading or writing."""


class AerecMemoryError(AerecError, MemoryError):
    """A model that would need more memory than the machine has; the
    message gives the estimate and the setting to change."""
