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


class JobNotFoundError(DepecheError):
    code = "job_not_found"
    status = 404


class IdempotencyConflictError(DepecheError):
    code = "idempotency_conflict"
    status = 409


class JobNotCancellableError(DepecheError):
    code = "job_not_cancellable"
    status = 409


class CallbackNotAllowedError(DepecheError):
    code = "callback_not_allowed"
    status = 422


class JobsUnavailableError(DepecheError):
    code = "jobs_unavailable"
    status = 503


class MissingArticleError(DepecheError):
    code = "missing_field"
    status = 422


class ConflictingFieldsError(DepecheError):
    code = "conflicting_fields"
    status = 422


class UnsupportedLanguageError(DepecheError):
    code = "unsupported_language"
    status = 422


class MissingApiKeyError(DepecheError):
    code = "unauthorized"
    status = 401


class InvalidApiKeyError(DepecheError):
    code = "invalid_api_key"
    status = 401


class BatchTooLargeError(DepecheError):
    code = "too_many_articles"
    status = 413


class InvalidGlossaryError(DepecheError):
    code = "invalid_glossary"
    status = 422


class GlossaryTooLargeError(DepecheError):
    code = "glossary_too_large"
    status = 413


class GlossaryNotFoundError(DepecheError):
    code = "glossary_not_found"
    status = 404


class UnknownGlossaryError(DepecheError):
    """A request names a `glossary_id` that no stored glossary has."""

    code = "unknown_glossary"
    status = 422


class TooManyGlossariesError(DepecheError):
    code = "too_many_glossaries"
    status = 409


class GlossariesUnavailableError(DepecheError):
    code = "glossaries_unavailable"
    status = 503


class InferenceFailedError(DepecheError):
    """A model call raised (device fault, out of memory, an engine bug on some input): only the
    requests whose texts were in that batch fail; the model keeps serving the others."""

    code = "inference_failed"
    status = 500


class SourceCountMismatchError(DepecheError):
    code = "source_count_mismatch"
    status = 422


class InvalidUnicodeError(DepecheError):
    """A body or file that is not valid UTF-8, or a string holding an unpaired surrogate."""

    code = "invalid_unicode"
    status = 422


class InvalidHeaderError(DepecheError):
    """A request header the service reads is malformed (too long, not printable ASCII)."""

    code = "invalid_header"
    status = 422
