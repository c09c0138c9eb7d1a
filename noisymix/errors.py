"""The one error type of noisymix: every expected failure is a ``NoisymixError``.

Its message is one line that names the file or flag at fault and the fix. The CLI prints it
and exits with ``exit_code`` (2: the command line or a value in it is wrong; 1: the world is
— missing data, a damaged file, a busy run folder); a traceback appears only with
``noisymix --debug`` or for a real bug. Torch-free, import-light: every module may raise these.
"""

from __future__ import annotations


class NoisymixError(Exception):
    """An expected failure at run time (exit status 1)."""

    exit_code = 1


class UsageError(NoisymixError, ValueError):
    """A flag, argument or configuration value is invalid (exit status 2).

    Also a ``ValueError``, so library callers that catch ``ValueError`` keep working."""

    exit_code = 2


class InputError(NoisymixError, ValueError):
    """An input file (images, labels, a benchmark folder, a checkpoint's metadata) is not
    what it claims to be (exit status 1)."""


class BusyError(NoisymixError):
    """Another process is writing the same output (exit status 1)."""


class DivergenceError(NoisymixError):
    """Training produced a non-finite loss or weight (exit status 1)."""
