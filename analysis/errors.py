"""Errors raised on bad input: each one says what went wrong and what to do."""


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


def raise_if_interrupted(exc: BaseException) -> None:
    """Re-raise Ctrl-C that a library wrapped in another error (pandas turns a KeyboardInterrupt during a
    read into a ParserError), so that an interruption is never reported as a bad file."""
    seen = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        seen = seen.__cause__ or seen.__context__
