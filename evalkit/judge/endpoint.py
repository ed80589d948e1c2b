"""Resolve where the judge is reached and with which credentials.

Reads the environment only when called. The API key is returned to the caller
for the HTTP client and must never be logged or written; use
:func:`display_url` for anything shown to humans.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

from .config import JudgeConfig
from .errors import MissingAPIKeyError

#: The OpenAI SDK's default base URL.
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Placeholder key for local servers that need none (the SDK insists on a value).
PLACEHOLDER_KEY = "EMPTY"


@dataclass(frozen=True)
class Endpoint:
    """A resolved judge endpoint. ``repr`` hides the key."""

    base_url: str
    api_key: str
    key_from_env: bool

    def __repr__(self) -> str:  # never show the key
        return f"Endpoint(base_url={display_url(self.base_url)!r}, key_from_env={self.key_from_env})"

    __str__ = __repr__

    @property
    def display(self) -> str:
        """The base URL safe for messages and logs."""
        return display_url(self.base_url)


def resolve_base_url(cfg: JudgeConfig, environ: Optional[Mapping[str, str]] = None) -> str:
    """``cfg.base_url``, else env ``OPENAI_BASE_URL``, else the OpenAI default."""
    env = os.environ if environ is None else environ
    url = cfg.base_url or env.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_BASE_URL
    return url.rstrip("/")


def is_openai_host(base_url: str) -> bool:
    """True if the URL points at OpenAI's hosted API (which always needs a key)."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".openai.com")


def display_url(url: str) -> str:
    """The URL with any ``user:password@`` part and query string removed."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def resolve_endpoint(cfg: JudgeConfig, environ: Optional[Mapping[str, str]] = None) -> Endpoint:
    """Resolve base URL and key; fail before any request if OpenAI is used without a key."""
    env = os.environ if environ is None else environ
    base_url = resolve_base_url(cfg, env)
    key = env.get(cfg.api_key_env) if cfg.api_key_env else None
    if key:
        return Endpoint(base_url=base_url, api_key=key, key_from_env=True)
    if is_openai_host(base_url):
        raise MissingAPIKeyError(
            f"the judge endpoint {display_url(base_url)} needs an API key, but the "
            f"environment variable {cfg.api_key_env or '<unset>'} is empty: "
            f"set {cfg.api_key_env or 'OPENAI_API_KEY'} or judge.api_key_env; "
            "or run without the judge (judge=none: exact-match metrics only), or count and price the "
            "requests without sending any (judge.dry_run=true)",
            endpoint=display_url(base_url),
        )
    return Endpoint(base_url=base_url, api_key=PLACEHOLDER_KEY, key_from_env=False)

