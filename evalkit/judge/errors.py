"""Exception types raised by the judge package.

Messages built here name the judge *endpoint* (base URL) and, where useful, the
*name* of the environment variable that holds the API key — never the key.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from evalkit.errors import EvalkitError


class JudgeUnavailableError(EvalkitError, RuntimeError):
    """The judge endpoint cannot be used: unreachable, unauthenticated, or failing.

    Raised after transport retries are exhausted (or at once for 401/403/404),
    and only after every verdict obtained so far has been cached and written.
    ``endpoint`` is the base URL that was tried (credentials in the URL are
    redacted).
    """

    def __init__(self, message: str, *, endpoint: Optional[str] = None,
                 status_code: Optional[int] = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status_code = status_code


class MissingAPIKeyError(JudgeUnavailableError):
    """No API key is available for an endpoint that requires one (OpenAI's)."""


class JudgeRequestError(RuntimeError):
    """A request for one item was rejected permanently (e.g. HTTP 400/422).

    Not retried and not cached; the item stays unjudged so a later run retries it.
    """

    def __init__(self, message: str, *, status_code: Optional[int] = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ParseError(ValueError):
    """A judge reply could not be turned into a valid verdict.

    ``status`` is the judgment status to record if re-asking does not help
    (``"parse_error"`` or a protocol-specific one such as
    ``"score_out_of_range"``); ``partial`` holds whatever fields were recovered
    (kept in the judgment line so lenient aggregations can still use them).
    ``retry`` says whether re-asking may help: ``False`` makes the reply final
    (recorded with ``status``), e.g. for a reference protocol whose script
    accepts any reply that parses, valid verdict or not.
    """

    def __init__(self, message: str, *, status: str = "parse_error",
                 partial: Optional[Dict[str, Any]] = None, retry: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.partial: Dict[str, Any] = dict(partial or {})
        self.retry = retry
