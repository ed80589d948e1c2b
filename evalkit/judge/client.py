"""The judge's chat client: :class:`evalkit.chat_client.ChatClient` (one retry policy for every
OpenAI-compatible request evalkit sends) with the judge's settings, sampling arguments and error
messages (:class:`JudgeUnavailableError` naming the endpoint and the key's variable, never the key;
:class:`JudgeRequestError` for a request rejected permanently)."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Mapping, Optional, Sequence

from evalkit.chat_client import (Aborted, ChatClient, ClientStats, Completion, Failure, RetryPolicy, Sleep,
                                 redact)
from evalkit.judge.config import JudgeConfig
from evalkit.judge.endpoint import Endpoint
from evalkit.judge.errors import JudgeRequestError, JudgeUnavailableError

__all__ = ["ClientStats", "Completion", "JudgeAborted", "JudgeClient"]

JudgeAborted = Aborted


class JudgeClient(ChatClient):
    """Concurrency-limited, retrying chat client for one judge endpoint.

    Use as ``async with JudgeClient(endpoint, cfg) as client: await client.complete(msgs)``.
    """

    what = "judge endpoint"

    def __init__(self, endpoint: Endpoint, cfg: JudgeConfig, *, sleep: Optional[Sleep] = None,
                 rng: Optional[random.Random] = None, stop: Optional[asyncio.Event] = None) -> None:
        policy = RetryPolicy(concurrency=int(cfg.concurrency), max_retries=int(cfg.max_retries),
                             timeout_s=float(cfg.timeout_s), backoff_base_s=float(cfg.backoff_base_s),
                             backoff_max_s=float(cfg.backoff_max_s))
        super().__init__(endpoint.base_url, endpoint.api_key, policy, display=endpoint.display, sleep=sleep,
                         rng=rng, stop=stop)
        self.endpoint = endpoint
        self.cfg = cfg

    async def complete(self, messages: Sequence[Mapping[str, Any]],  # type: ignore[override]
                       sampling: Optional[Mapping[str, Any]] = None) -> Completion:
        """Send one chat request to the judge model.  ``sampling``: the sampling arguments to send,
        exactly (an empty mapping sends none, so the API's defaults apply); None sends the config's
        ``temperature`` and ``max_tokens``."""
        if sampling is None:
            sampling = {"temperature": float(self.cfg.temperature), "max_tokens": int(self.cfg.max_tokens)}
        return await super().complete(messages, model=self.cfg.model, **dict(sampling))

    def unavailable_error(self, failure: Failure, attempts: int, params: Mapping[str, Any]) -> Exception:
        where = self.display
        if failure.status in (401, 403):
            msg = (f"judge endpoint {where} refused the credentials ({failure.label}); "
                   f"check the API key in ${self.cfg.api_key_env} (judge.api_key_env)")
        elif failure.status == 404:
            msg = (f"judge endpoint {where} answered HTTP 404 for model {self.cfg.model!r}: "
                   "check judge.base_url (usually ends in /v1) and judge.model")
        elif failure.label.endswith("insufficient_quota"):
            msg = f"judge endpoint {where} reports the account's quota is exhausted (HTTP 429)"
        else:
            msg = f"judge endpoint {where} is unavailable: {failure.label} after {attempts} attempt(s)"
        return JudgeUnavailableError(redact(msg, self.api_key), endpoint=where, status_code=failure.status)

    def rejected_error(self, failure: Failure) -> Exception:
        return JudgeRequestError(f"judge endpoint {self.display} rejected a request ({failure.label})",
                                 status_code=failure.status)
