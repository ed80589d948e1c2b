"""The judge's chat client: :class:`evalkit.chat_client.ChatClient` (one retry policy for every
OpenAI-compatible request evalkit sends) with the judge's settings, sampling arguments and error
messages (:class:`JudgeUnavailableError` naming the endpoint and the key's variable, never the key;
:class:`JudgeRequestError` for a request rejected permanently)."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Mapping, Optional, Sequence

from evalkit.chat_client import Aborted, ChatClient, ClientStats, Completion, RetryPolicy, Sleep
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
    not_found_hint = "check judge.base_url (usually ends in /v1) and judge.model"
    deadline_setting = "judge.item_deadline_s"
    model_gone_hint = ("predictions and verdicts so far are kept; judge them with an open-weight judge "
                       "(judge=hf_local judge.model=<hub id or path>, see docs/judges.md) or judge.model=<a current "
                       "model>, then run stage=judge")
    unavailable_type = JudgeUnavailableError
    rejected_type = JudgeRequestError

    def __init__(self, endpoint: Endpoint, cfg: JudgeConfig, *, sleep: Optional[Sleep] = None,
                 rng: Optional[random.Random] = None, stop: Optional[asyncio.Event] = None) -> None:
        policy = RetryPolicy(concurrency=int(cfg.concurrency), max_retries=int(cfg.max_retries),
                             timeout_s=float(cfg.timeout_s), backoff_base_s=float(cfg.backoff_base_s),
                             backoff_max_s=float(cfg.backoff_max_s))
        super().__init__(endpoint.base_url, endpoint.api_key, policy, display=endpoint.display, sleep=sleep,
                         rng=rng, stop=stop)
        self.credentials_hint = f"check the API key in ${cfg.api_key_env} (judge.api_key_env)"
        self.endpoint = endpoint
        self.cfg = cfg

    async def complete(self, messages: Sequence[Mapping[str, Any]],  # type: ignore[override]
                       sampling: Optional[Mapping[str, Any]] = None, *,
                       deadline: Optional[float] = None) -> Completion:
        """Send one chat request to the judge model.  ``sampling``: the sampling arguments to send,
        exactly (an empty mapping sends none, so the API's defaults apply); None sends the config's
        ``temperature`` and ``max_tokens``.  ``deadline``: when to give up (see :class:`ChatClient`)."""
        if sampling is None:
            sampling = {"temperature": float(self.cfg.temperature), "max_tokens": int(self.cfg.max_tokens)}
        return await super().complete(messages, deadline=deadline, model=self.cfg.model, **dict(sampling))
