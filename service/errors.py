"""Domain errors: each carries a machine-readable code and the HTTP status the API answers with."""

from __future__ import annotations


class DepecheError(Exception):
    """A failure the caller can act on; `message` is one human sentence."""

    code = "error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmptyArticleError(DepecheError):
    code = "empty_text"
    status = 422


class ArticleTooLongError(DepecheError):
    code = "text_too_long"
    status = 413


class ModelsNotReadyError(DepecheError):
    code = "models_not_ready"
    status = 503


class OverloadedError(DepecheError):
    code = "overloaded"
    status = 429
