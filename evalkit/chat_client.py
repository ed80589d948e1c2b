"""One OpenAI-compatible chat client with one retry policy, shared by the judge and the
served-model adapter.

Wraps the official ``openai.AsyncOpenAI`` with the SDK's own retries switched off
(``max_retries=0``), so that retrying happens here, once:

- at most ``concurrency`` requests in flight (``asyncio.Semaphore``);
- 429 / 5xx / 408 / 409 / timeouts / connection errors / malformed bodies are retried up to
  ``max_retries`` times with exponential backoff and full jitter, or after the server's
  ``Retry-After``, which also pauses every other request of the client (a shared pause);
- 401 / 403 / 404, an exhausted quota and exhausted retries make the endpoint *unavailable*
  (:meth:`ChatClient.unavailable_error`); other 4xx reject that one request
  (:meth:`ChatClient.rejected_error`);
- every retry is one log line (what failed, the attempt count, the wait), so a silent endpoint is
  visible at once; a call given a ``deadline`` (a :func:`time.monotonic` time, e.g. the judge's
  ``judge.item_deadline_s`` per item) gives up when it passes -- each request's timeout is cut to
  the time left -- and the endpoint is then *unavailable*.

Subclasses (the judge's client) turn both into their own exception types and messages; messages
name the endpoint, never the key.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Set

from evalkit.errors import EvalkitError
from evalkit.redaction import redact_text, redact_url

log = logging.getLogger("evalkit.chat_client")

Sleep = Callable[[float], Awaitable[Any]]
#: Longest server-requested wait that is honoured as-is (seconds).
MAX_RETRY_AFTER_S = 600.0


# ---- retry timing ------------------------------------------------------------------------------

def full_jitter_delay(retry_index: int, base_s: float, max_s: float,
                      rng: Optional[random.Random] = None) -> float:
    """Uniform in ``[0, min(max_s, base_s * 2**retry_index)]`` ("full jitter")."""
    r = rng or random
    cap = min(max_s, base_s * math.pow(2.0, min(retry_index, 60)))
    return r.uniform(0.0, max(cap, 0.0))


def parse_retry_after(headers: Optional[Mapping[str, str]], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or HTTP date).

    None when absent or unreadable; negative values become 0 and values are capped at
    :data:`MAX_RETRY_AFTER_S`.
    """
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            if name != "retry-after":
                continue
            try:
                when = email.utils.parsedate_to_datetime(value).timestamp()
            except (TypeError, ValueError, IndexError):
                return None
            seconds = when - (time.time() if now is None else now)
        if not math.isfinite(seconds):
            return MAX_RETRY_AFTER_S
        return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
    return None


# ---- results and failures ----------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    concurrency: int = 16
    max_retries: int = 8
    timeout_s: float = 60.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0


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
    """Counters over the client's lifetime."""

    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: Counter = field(default_factory=Counter)       # kind -> count
    tokens_by_model: Dict[str, Dict[str, int]] = field(default_factory=dict)
    returned_models: Set[str] = field(default_factory=set)


@dataclass
class Failure:
    kind: str                      # "retry" | "unavailable" | "request"
    label: str                     # short description for stats/messages
    status: Optional[int] = None
    retry_after: Optional[float] = None
    code: Optional[str] = None     # the API's error code (e.g. "model_not_found")


class Aborted(Exception):
    """The client is stopping (another request hit a fatal error); this call gave up."""


class EndpointUnavailableError(EvalkitError, RuntimeError):
    """The endpoint cannot be used (credentials refused, not found, down after the retries)."""

    def __init__(self, message: str, *, endpoint: Optional[str] = None, status_code: Optional[int] = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status_code = status_code


class RequestRejectedError(RuntimeError):
    """The endpoint rejected one request permanently (e.g. HTTP 400); not retried."""

    def __init__(self, message: str, *, status_code: Optional[int] = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def redact(text: str, secret: Optional[str]) -> str:
    """``text`` without ``secret`` (the API key) or URL credentials (:func:`evalkit.redaction.redact_text`)."""
    return redact_text(text, (secret,))


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def sendable(obj: Any) -> Any:
    """A request body's strings made sendable: a lone surrogate (from a data file) cannot be encoded
    as UTF-8 JSON, so it is sent as U+FFFD, never making the request fail."""
    if isinstance(obj, str):
        return _LONE_SURROGATE.sub("\ufffd", obj)
    if isinstance(obj, dict):
        return {k: sendable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sendable(v) for v in obj]
    return obj


def classify(exc: BaseException) -> Optional[Failure]:
    """How to react to a failed request; None for errors that are not the endpoint's."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        headers = getattr(exc.response, "headers", None)
        if code in (401, 403, 404):
            return Failure("unavailable", f"HTTP {code}", code, code=getattr(exc, "code", None))
        if code == 429 and getattr(exc, "code", None) == "insufficient_quota":
            return Failure("unavailable", "HTTP 429 insufficient_quota", code)
        if code in (408, 409, 429) or code >= 500:
            return Failure("retry", f"HTTP {code}", code, parse_retry_after(headers))
        return Failure("request", f"HTTP {code}", code)
    if isinstance(exc, openai.APITimeoutError):
        return Failure("retry", "timeout")
    if isinstance(exc, openai.APIConnectionError):
        return Failure("retry", "connection error")
    if isinstance(exc, (openai.APIResponseValidationError, ValueError)):
        return Failure("retry", "malformed response")  # e.g. a 200 whose body is not JSON
    return None  # not a transport problem: let it surface as is


# ---- the client ----------------------------------------------------------------------------------

class ChatClient:
    """Concurrency-limited, retrying chat client for one endpoint.

    Use as ``async with ChatClient(...) as c: await c.complete(messages, model=..., ...)``; the keyword
    arguments of :meth:`complete` are sent as they are (a request parameter that is not given is not
    sent).  ``sleep`` and ``rng`` are injectable for tests; ``stop`` (an event) aborts waiting calls.
    """

    what = "endpoint"
    #: what to check when the endpoint refuses the key / does not know the path or model
    credentials_hint = "check the API key"
    not_found_hint = "check the base URL (usually ends in /v1) and the model name"
    #: what sets a call's deadline, for messages
    deadline_setting = "the call's deadline"
    #: what to do when the endpoint says it does not serve the model (HTTP 404 model_not_found)
    model_gone_hint = "choose a model the endpoint serves"
    unavailable_type: type = EndpointUnavailableError
    rejected_type: type = RequestRejectedError

    def __init__(self, base_url: str, api_key: str, policy: RetryPolicy, *, display: Optional[str] = None,
                 sleep: Optional[Sleep] = None, rng: Optional[random.Random] = None,
                 stop: Optional[asyncio.Event] = None) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.display = display or redact_url(base_url)
        self.policy = policy
        self.stats = ClientStats()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self._stop = stop
        self._sem: Optional[asyncio.Semaphore] = None
        self._client: Any = None
        self._resume_at = 0.0      # monotonic time before which no request starts

    async def __aenter__(self) -> "ChatClient":
        from openai import AsyncOpenAI  # imported here: heavy, and only needed to send

        self._sem = asyncio.Semaphore(max(1, int(self.policy.concurrency)))
        self._client = AsyncOpenAI(api_key=self.api_key, base_url=self.base_url, max_retries=0,
                                   timeout=float(self.policy.timeout_s))
        return self

    async def __aexit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # -- errors (subclasses set their own words and types) --------------------------------------------
    def unavailable_error(self, failure: Failure, attempts: int, params: Mapping[str, Any]) -> Exception:
        where = self.display
        if failure.status in (401, 403):
            msg = f"{self.what} {where} refused the credentials ({failure.label}); {self.credentials_hint}"
        elif failure.status == 404 and failure.code == "model_not_found":
            msg = (f"model {params.get('model')!r} is not served by {where} (shut down / not available): "
                   f"{self.model_gone_hint}")
        elif failure.status == 404:
            msg = f"{self.what} {where} answered HTTP 404 for model {params.get('model')!r}: {self.not_found_hint}"
        elif failure.label.endswith("insufficient_quota"):
            msg = f"{self.what} {where} reports the account's quota is exhausted (HTTP 429)"
        else:
            msg = f"{self.what} {where} is unavailable: {failure.label} after {attempts} attempt(s)"
        return self.unavailable_type(redact(msg, self.api_key), endpoint=where, status_code=failure.status)

    def rejected_error(self, failure: Failure) -> Exception:
        return self.rejected_type(f"{self.what} {self.display} rejected a request ({failure.label})",
                                  status_code=failure.status)

    def _log_retry(self, failure: Failure, attempts: int, wait: float, deadline: Optional[float]) -> None:
        """One line per retry: what failed, how many attempts so far, when the next one goes."""
        left = f", {max(0.0, deadline - time.monotonic()):.0f} s left before giving up" if deadline is not None else ""
        what = f"no answer within {float(self.policy.timeout_s):g} s" if failure.label == "timeout" else failure.label
        log.warning("%s %s: %s (attempt %d of %d%s); retrying in %.1f s", self.what, self.display, what, attempts,
                    int(self.policy.max_retries) + 1, left, wait)

    # -- sending ---------------------------------------------------------------------------------
    def _check_stop(self) -> None:
        if self._stop is not None and self._stop.is_set():
            raise Aborted()

    async def _wait_gate(self) -> None:
        remaining = self._resume_at - time.monotonic()
        if remaining > 0:
            await self._sleep(remaining)

    def _record(self, resp: Any, requested_model: Optional[str]) -> Completion:
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
        bucket = st.tokens_by_model.setdefault(str(model or requested_model), {"prompt": 0, "completion": 0})
        bucket["prompt"] += p
        bucket["completion"] += c
        if model:
            st.returned_models.add(str(model))
        return Completion(text=str(text), model=str(model) if model else None,
                          prompt_tokens=p, completion_tokens=c, latency_s=0.0, attempts=0)

    def _past(self, deadline: Optional[float], failure: Failure, attempts: int,
              params: Mapping[str, Any]) -> Optional[Exception]:
        """The unavailable error of a call whose ``deadline`` has passed (None: time is left)."""
        if deadline is None or time.monotonic() < deadline:
            return None
        late = Failure(failure.kind, f"no usable answer before the deadline ({self.deadline_setting}; "
                                     f"{failure.label} last)", failure.status)
        return self.unavailable_error(late, attempts, params)

    async def complete(self, messages: Sequence[Mapping[str, Any]], *, deadline: Optional[float] = None,
                       **params: Any) -> Completion:
        """Send one chat request (``params``: model, temperature, max_tokens, ...), retrying transient
        failures until ``deadline`` (a :func:`time.monotonic` time; None: retries only) (see the
        module docs)."""
        if self._client is None or self._sem is None:
            raise RuntimeError(f"{type(self).__name__} must be used inside 'async with'")
        attempts = 0
        retries_left = int(self.policy.max_retries)
        msgs: List[Dict[str, Any]] = [sendable(dict(m)) for m in messages]
        while True:
            self._check_stop()
            await self._wait_gate()
            self._check_stop()
            failure: Optional[Failure] = None
            async with self._sem:
                attempts += 1
                self.stats.requests += 1
                t0 = time.perf_counter()
                timeout = float(self.policy.timeout_s)
                if deadline is not None:  # never wait past the deadline for one answer
                    timeout = max(0.001, min(timeout, deadline - time.monotonic()))
                try:
                    resp = await self._client.chat.completions.create(messages=msgs, timeout=timeout, **params)
                    result = self._record(resp, params.get("model"))
                    result.latency_s = time.perf_counter() - t0
                    result.attempts = attempts
                    return result
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # classified below; nothing is swallowed
                    failure = classify(exc)
                    if failure is None:
                        raise
                    self.stats.failures[failure.label] += 1
                    log.debug("%s request failed: %s (%s)", self.what, failure.label, type(exc).__name__)
            assert failure is not None
            if failure.kind == "unavailable":
                raise self.unavailable_error(failure, attempts, params)
            if failure.kind == "request":
                raise self.rejected_error(failure)
            if retries_left <= 0:
                raise self.unavailable_error(failure, attempts, params)
            late = self._past(deadline, failure, attempts, params)
            if late is not None:
                raise late
            retries_left -= 1
            self.stats.retries += 1
            if failure.retry_after is not None:
                # the server asked everyone to wait: hold back all new requests
                wait = failure.retry_after
                self._resume_at = max(self._resume_at, time.monotonic() + wait)
            else:
                retry_index = int(self.policy.max_retries) - retries_left - 1
                wait = full_jitter_delay(retry_index, float(self.policy.backoff_base_s),
                                         float(self.policy.backoff_max_s), self._rng)
            self._log_retry(failure, attempts, wait, deadline)
            if failure.retry_after is None:
                await self._sleep(wait if deadline is None else max(0.0, min(wait, deadline - time.monotonic())))
