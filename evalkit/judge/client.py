"""Async chat-completions client with bounded concurrency and our own retries.

Wraps the official ``openai.AsyncOpenAI`` with the SDK's retries switched off
(``max_retries=0``) so that retry policy lives here:

- at most ``concurrency`` requests in flight (``asyncio.Semaphore``);
- 429 / 5xx / 408 / timeouts / connection errors / malformed bodies are retried
  up to ``max_retries`` times with exponential backoff and full jitter, or after
  the server's ``Retry-After`` (which also pauses every other request);
- 401 / 403 / 404 and exhausted retries raise :class:`JudgeUnavailableError`
  naming the endpoint (never the key); other 4xx raise :class:`JudgeRequestError`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Set

from .backoff import full_jitter_delay, parse_retry_after
from .config import JudgeConfig
from .endpoint import Endpoint, redact
from .errors import JudgeRequestError, JudgeUnavailableError

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[Any]]


class JudgeAborted(Exception):
    """The run is stopping (another request hit a fatal error); this call gave up."""


@dataclass
class Completion:
    """One successful chat completion."""

    text: str
    model: Optional[str]          # model name the API reported
    prompt_tokens: int
    completion_tokens: int
    latency_s: float              # duration of the successful HTTP call
    attempts: int                 # HTTP requests made for this call (1 + retries)


@dataclass
class ClientStats:
    """Counters over the client's lifetime (read by the runner for progress/summary)."""

    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: Counter = field(default_factory=Counter)       # kind -> count
    tokens_by_model: Dict[str, Dict[str, int]] = field(default_factory=dict)
    returned_models: Set[str] = field(default_factory=set)


@dataclass
class _Failure:
    kind: str                      # "retry" | "unavailable" | "request"
    label: str                     # short description for stats/messages
    status: Optional[int] = None
    retry_after: Optional[float] = None


class JudgeClient:
    """Concurrency-limited, retrying chat client for one judge endpoint.

    Use as ``async with JudgeClient(endpoint, cfg) as client: await client.complete(msgs)``.
    ``sleep`` and ``rng`` are injectable for tests.
    """

    def __init__(self, endpoint: Endpoint, cfg: JudgeConfig, *,
                 sleep: Optional[Sleep] = None, rng: Optional[random.Random] = None,
                 stop: Optional[asyncio.Event] = None) -> None:
        self.endpoint = endpoint
        self.cfg = cfg
        self.stats = ClientStats()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self._stop = stop
        self._sem: Optional[asyncio.Semaphore] = None
        self._client: Any = None
        self._resume_at = 0.0      # monotonic time before which no request starts

    async def __aenter__(self) -> "JudgeClient":
        from openai import AsyncOpenAI  # imported here: heavy, and only needed to send

        self._sem = asyncio.Semaphore(max(1, int(self.cfg.concurrency)))
        self._client = AsyncOpenAI(api_key=self.endpoint.api_key,
                                   base_url=self.endpoint.base_url,
                                   max_retries=0, timeout=float(self.cfg.timeout_s))
        return self

    async def __aexit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # -- classification --------------------------------------------------
    def _classify(self, exc: BaseException) -> Optional[_Failure]:
        """How to react to a failed request; None for errors that are not the endpoint's."""
        import openai

        if isinstance(exc, openai.APIStatusError):
            code = exc.status_code
            headers = getattr(exc.response, "headers", None)
            if code in (401, 403):
                return _Failure("unavailable", f"HTTP {code}", code)
            if code == 404:
                return _Failure("unavailable", "HTTP 404", code)
            if code == 429 and getattr(exc, "code", None) == "insufficient_quota":
                return _Failure("unavailable", "HTTP 429 insufficient_quota", code)
            if code in (408, 409, 429) or code >= 500:
                return _Failure("retry", f"HTTP {code}", code, parse_retry_after(headers))
            return _Failure("request", f"HTTP {code}", code)
        if isinstance(exc, openai.APITimeoutError):
            return _Failure("retry", "timeout")
        if isinstance(exc, openai.APIConnectionError):
            return _Failure("retry", "connection error")
        if isinstance(exc, (openai.APIResponseValidationError, ValueError)):
            return _Failure("retry", "malformed response")  # e.g. a 200 whose body is not JSON
        return None  # not a transport problem: let it surface as is

    def _unavailable(self, failure: _Failure, attempts: int) -> JudgeUnavailableError:
        where = self.endpoint.display
        if failure.status in (401, 403):
            msg = (f"judge endpoint {where} refused the credentials ({failure.label}); "
                   f"check the API key in ${self.cfg.api_key_env} (judge.api_key_env)")
        elif failure.status == 404:
            msg = (f"judge endpoint {where} answered HTTP 404 for model {self.cfg.model!r}: "
                   "check judge.base_url (usually ends in /v1) and judge.model")
        elif failure.label.endswith("insufficient_quota"):
            msg = f"judge endpoint {where} reports the account's quota is exhausted (HTTP 429)"
        else:
            msg = (f"judge endpoint {where} is unavailable: {failure.label} "
                   f"after {attempts} attempt(s)")
        return JudgeUnavailableError(redact(msg, self.endpoint.api_key),
                                     endpoint=where, status_code=failure.status)

    # -- sending ---------------------------------------------------------
    def _check_stop(self) -> None:
        if self._stop is not None and self._stop.is_set():
            raise JudgeAborted()

    async def _wait_gate(self) -> None:
        remaining = self._resume_at - time.monotonic()
        if remaining > 0:
            await self._sleep(remaining)

    def _record(self, resp: Any) -> Completion:
        """Extract text, model and usage; ``ValueError`` if the body lacks that shape."""
        try:
            choices = getattr(resp, "choices", None)
            if not choices:
                raise ValueError("response has no choices")
            message = getattr(choices[0], "message", None)
            text = getattr(message, "content", None) or ""
            model = getattr(resp, "model", None)
            usage = getattr(resp, "usage", None)
            p = int(getattr(usage, "prompt_tokens", 0) or 0)
            c = int(getattr(usage, "completion_tokens", 0) or 0)
        except (TypeError, AttributeError, KeyError, IndexError) as exc:
            raise ValueError(f"unexpected response shape: {type(exc).__name__}") from exc
        st = self.stats
        st.prompt_tokens += p
        st.completion_tokens += c
        key = str(model or self.cfg.model)
        bucket = st.tokens_by_model.setdefault(key, {"prompt": 0, "completion": 0})
        bucket["prompt"] += p
        bucket["completion"] += c
        if model:
            st.returned_models.add(str(model))
        return Completion(text=str(text), model=str(model) if model else None,
                          prompt_tokens=p, completion_tokens=c, latency_s=0.0, attempts=0)

    async def complete(self, messages: Sequence[Mapping[str, str]],
                       sampling: Optional[Mapping[str, Any]] = None) -> Completion:
        """Send one chat request, retrying transient failures (see module docs).

        ``sampling``: the sampling arguments to send, exactly (an empty mapping sends none, so
        the API's defaults apply); None sends the config's ``temperature`` and ``max_tokens``.
        """
        if sampling is None:
            sampling = {"temperature": float(self.cfg.temperature), "max_tokens": int(self.cfg.max_tokens)}
        if self._client is None or self._sem is None:
            raise RuntimeError("JudgeClient must be used inside 'async with'")
        attempts = 0
        retries_left = int(self.cfg.max_retries)
        msgs: List[Dict[str, str]] = [dict(m) for m in messages]
        while True:
            self._check_stop()
            await self._wait_gate()
            self._check_stop()
            failure: Optional[_Failure] = None
            async with self._sem:
                attempts += 1
                self.stats.requests += 1
                t0 = time.perf_counter()
                try:
                    resp = await self._client.chat.completions.create(
                        model=self.cfg.model, messages=msgs, **dict(sampling))
                    result = self._record(resp)
                    result.latency_s = time.perf_counter() - t0
                    result.attempts = attempts
                    return result
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # classified below; nothing is swallowed
                    failure = self._classify(exc)
                    if failure is None:
                        raise
                    self.stats.failures[failure.label] += 1
                    log.debug("judge request failed: %s (%s)", failure.label, type(exc).__name__)
            assert failure is not None
            if failure.kind == "unavailable":
                raise self._unavailable(failure, attempts)
            if failure.kind == "request":
                raise JudgeRequestError(
                    f"judge endpoint {self.endpoint.display} rejected a request ({failure.label})",
                    status_code=failure.status)
            if retries_left <= 0:
                raise self._unavailable(failure, attempts)
            retries_left -= 1
            self.stats.retries += 1
            if failure.retry_after is not None:
                # the server asked everyone to wait: hold back all new requests
                self._resume_at = max(self._resume_at, time.monotonic() + failure.retry_after)
            else:
                retry_index = int(self.cfg.max_retries) - retries_left - 1
                await self._sleep(full_jitter_delay(retry_index, float(self.cfg.backoff_base_s),
                                                    float(self.cfg.backoff_max_s), self._rng))
