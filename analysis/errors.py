"""Errors raised on bad input: each one says what went wrong and what to do; and telling Ctrl-C from them."""

import signal


class DataError(Exception):
    """Base class for every problem with an input file or the panel built from it."""


class ChecksumError(DataError):
    """A file's sha256 differs from the one in the source registry."""


class MissingSourceError(DataError):
    """A registered file could be taken neither from the mirror nor from its URL."""


class SourceFormatError(DataError):
    """A file's layout is not what its reader expects (sheet, column or value)."""


class UnknownLAError(DataError):
    """LA names or codes in a source that the geography cannot place."""


class ValidationError(DataError):
    """The assembled panel failed a check (duplicates, totals, ranges)."""


class BookError(Exception):
    """The book could not be rendered (the message says where the log is)."""


_interrupted = False


def watch_interrupts() -> None:
    """Remember Ctrl-C before Python raises KeyboardInterrupt, so that `raise_if_interrupted` can tell
    an interruption from a bad file even where a library drops the KeyboardInterrupt itself."""

    def handler(signum, frame):
        global _interrupted
        _interrupted = True
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, handler)


def raise_if_interrupted(exc: BaseException) -> None:
    """Re-raise Ctrl-C that a library turned into another error (pandas' C parser reports a
    KeyboardInterrupt during a read as "Calling read(nbytes) on source failed"), so that an
    interruption is never reported as a bad file."""
    if _interrupted:
        raise KeyboardInterrupt from None
    seen = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        seen = seen.__cause__ or seen.__context__
