"""Errors users can act on; the CLI and the chat page show their message, never a traceback."""


class CstoqaError(Exception):
    """Base class: the message says what went wrong and how to fix it."""


class InvalidQuestionError(CstoqaError):
    pass


class CorpusError(CstoqaError):
    pass


class IndexMissingError(CstoqaError):
    pass


class IndexCorruptError(CstoqaError):
    def __init__(self, index_dir: object, detail: str) -> None:
        super().__init__(f"the index in {index_dir} is damaged ({detail}); rebuild it with `cstoqa index --rebuild`")


class IndexOutdatedError(CstoqaError):
    """An index written by another version of cstoqa: rebuilt, never read."""


class IndexBusyError(CstoqaError):
    pass
