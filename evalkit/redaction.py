"""Credentials never leave the process: the one redaction evalkit applies to everything it writes
or logs (configs, Hydra's files, manifests, metrics, reports, log lines, exception messages).

What is redacted:

* the user-info part of any URL (``scheme://user:password@host`` -> ``scheme://<redacted>@host``);
* the values of credential-like query-string keys (``api_key=``, ``key=``, ``token=``,
  ``access_token=``, ``secret=``, ``password=``, ``sig=`` ...), in URLs or anywhere in text;
* in structured data (:func:`scrub`), the values of credential-named keys (``api_key``,
  ``hf_token``, ``secret``, ``password`` ...; not ``api_key_env``, which holds a variable's
  *name*, nor counters such as ``max_tokens``);
* explicitly known secrets (an API key read from the environment) wherever they occur.

A leaf module: it imports nothing from evalkit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any, Optional

REDACTED = "<redacted>"

#: ``scheme://userinfo@`` (userinfo: anything up to the first '@' that is not a path, query or space)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#@\s'\"<>]+@")
#: credential-like query-string parameters (``?api_key=...``, ``&token=...``)
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:api[_-]?key|apikey|key|token|access[_-]?token|auth[_-]?token|id[_-]?token|auth|secret|"
    r"client[_-]?secret|password|passwd|pwd|sig|signature|x-amz-signature|x-amz-credential|credential)=)"
    r"[^&#\s'\"<>]*")
#: config keys whose values are credentials (whole key, or its last ``_``-separated words)
_SECRET_KEY = re.compile(r"(?i)(^|[_\-.])(api[_-]?key|apikey|token|access[_-]?token|secret|client[_-]?secret|"
                         r"password|passwd|credentials?|authorization)$")
#: keys that name where a credential is found, never the credential itself
_NOT_SECRET_KEYS = frozenset({"api_key_env"})


def redact_text(text: str, secrets: Iterable[Optional[str]] = (),
                replace: Optional[Callable[[str], str]] = None) -> str:
    """``text`` with URL credentials (user-info, credential query parameters) and every occurrence
    of each of ``secrets`` (non-empty, not the ``EMPTY`` placeholder) replaced by ``<redacted>``
    (or by ``replace(credential)``)."""
    if not isinstance(text, str) or not text:
        return text
    base = replace or (lambda _secret: REDACTED)

    def sub(secret: str) -> str:  # an interpolation (${oc.env:NAME}) names where a secret is, nothing more
        return secret if secret.startswith("${") and secret.endswith("}") else base(secret)

    for s in secrets:
        if s and s != "EMPTY" and len(s) >= 4:
            text = text.replace(s, REDACTED)
    if "://" in text:
        text = _USERINFO.sub(lambda m: f"{m.group(1)}{sub(m.group(0)[len(m.group(1)):-1])}@", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{sub(m.group(0)[len(m.group(1)):])}", text)
    return text


def redact_url(url: Optional[str]) -> Optional[str]:
    """A URL safe to show or store (see :func:`redact_text`); None stays None."""
    return url if url is None else redact_text(str(url))


def is_secret_key(key: Any) -> bool:
    """True for a config key whose value is a credential (``api_key``, ``hf_token``, ``password``)."""
    return isinstance(key, str) and key not in _NOT_SECRET_KEYS and bool(_SECRET_KEY.search(key))


def scrub(obj: Any, secrets: Iterable[Optional[str]] = ()) -> Any:
    """A copy of ``obj`` (dicts, lists, strings; other values as they are) safe to write: values of
    credential-named keys become ``<redacted>``, and every string goes through :func:`redact_text`."""
    secrets = tuple(secrets)
    if isinstance(obj, dict):
        return {k: (REDACTED if is_secret_key(k) and v not in (None, "") else scrub(v, secrets))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub(v, secrets) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj, secrets)
    return obj


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's final message (arguments merged in), so no
    handler it is attached to writes a credential (``httpx``'s request lines included).  It also
    escapes characters UTF-8 cannot carry (a lone surrogate from a data file), which would make a
    handler print a traceback instead of the line."""

    def __init__(self, secrets: Iterable[Optional[str]] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's problem, not ours
            return True
        clean = redact_text(message, self.secrets).encode("utf-8", "backslashreplace").decode("utf-8")
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


def install_log_redaction(logger: Optional[logging.Logger] = None) -> None:
    """Attach a :class:`RedactingFilter` to every handler of ``logger`` (default: the root logger)
    that has none yet.  Records propagated from other loggers (``httpx``, ``openai``) pass through
    these handlers, so this covers them too."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
