"""A served model behind any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, a hosted
API).  Frames and images travel as base64 data URLs in one user message, after the task's prompt
text; the server applies its own chat template.  Greedy (temperature 0) by default.

Requests go through :class:`evalkit.chat_client.ChatClient`, the one retry policy evalkit uses for
every OpenAI-compatible endpoint (the judge's too): at most ``concurrency`` in flight, transient
failures retried with backoff, a server's ``Retry-After`` pausing every request.  A request the
server rejects (HTTP 4xx) becomes that sample's error record; an endpoint that refuses the key or
stays down stops the run (:class:`ModelUnavailableError`), finished predictions kept.

The runner treats it like any other adapter: it hands over decoded media and gets text back, so
sharding, resume, error records and scoring are unchanged.  The runner hands over one batch at a time
and a batch ends with its slowest reply, so unless ``runner.batch_size`` is set the runner's batches
are ``8 x model.concurrency`` requests (:meth:`OpenAIChatAdapter.preferred_batch_size`): with
batches the size of the concurrency the loopback server was kept 43-51 % busy, at 8x 65-80 %, and
the requests/s were 93-95 % of sending the whole run as one batch (bench/bench_served.py).
"""

from __future__ import annotations

import asyncio
import base64
import io
import threading
from dataclasses import dataclass
from typing import Any, Optional

from evalkit.models.base import (MODELS, GenerationFailed, GenerationInput, ModelAdapter, ModelConfig,
                                 ModelUnavailableError)
from evalkit.redaction import redact_url


@dataclass
class OpenAIChatConfig(ModelConfig):
    name: str = "openai_chat"
    pretrained: str = "???"  # the served model's name, as the endpoint knows it
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: Optional[str] = None  # NAME of the env var with the key; None for a local server
    max_new_tokens: Optional[int] = None  # null = the task's paper value
    temperature: float = 0.0
    concurrency: int = 8  # requests in flight
    timeout_s: float = 120.0
    max_retries: int = 3  # retries of a transient failure (429/5xx/timeout/connection)
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    image_format: str = "png"  # png (lossless) | jpeg
    jpeg_quality: int = 95
    image_detail: Optional[str] = None  # OpenAI's "low" | "high" | "auto"; None = not sent


class _LoopThread:
    """An asyncio loop in a daemon thread, so the synchronous runner can drive one long-lived client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="served-model", daemon=True)
        self._thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


@MODELS.register("openai_chat")
class OpenAIChatAdapter(ModelAdapter):
    config_cls = OpenAIChatConfig
    cfg: OpenAIChatConfig

    def __init__(self, cfg: OpenAIChatConfig) -> None:
        super().__init__(cfg)
        if cfg.image_format not in ("png", "jpeg"):
            raise ValueError(f"model.image_format must be png or jpeg, got {cfg.image_format!r}")
        self._client: Any = None
        self._loop: Optional[_LoopThread] = None

    def load(self) -> None:
        import os

        from evalkit.chat_client import ChatClient, RetryPolicy

        key = os.environ.get(self.cfg.api_key_env) if self.cfg.api_key_env else None
        if self.cfg.api_key_env and not key:
            raise ModelUnavailableError(f"model endpoint {redact_url(self.cfg.base_url)}: environment variable "
                                        f"{self.cfg.api_key_env} (model.api_key_env) is empty")
        policy = RetryPolicy(concurrency=self.cfg.concurrency, max_retries=self.cfg.max_retries,
                             timeout_s=self.cfg.timeout_s, backoff_base_s=self.cfg.backoff_base_s,
                             backoff_max_s=self.cfg.backoff_max_s)
        client = ChatClient(self.cfg.base_url, key or "EMPTY", policy)
        client.what = "model endpoint"
        client.credentials_hint = f"check the API key in ${self.cfg.api_key_env} (model.api_key_env)"
        self._loop = _LoopThread()
        self._client = self._loop.run(client.__aenter__())

    def close(self) -> None:
        if self._loop is not None:
            if self._client is not None:
                self._loop.run(self._client.__aexit__(None, None, None))
            self._loop.stop()
        self._client = self._loop = None

    def _data_url(self, image: Any) -> str:
        from PIL import Image

        img = image if isinstance(image, Image.Image) else Image.fromarray(image)
        buf = io.BytesIO()
        if self.cfg.image_format == "png":
            img.save(buf, format="PNG")
        else:
            img.convert("RGB").save(buf, format="JPEG", quality=self.cfg.jpeg_quality)
        return f"data:image/{self.cfg.image_format};base64," + base64.b64encode(buf.getvalue()).decode()

    def messages_for(self, item: GenerationInput) -> list[dict[str, Any]]:
        images: list[Any] = []
        if item.modality == "video" and item.media is not None:
            images = list(item.media)  # (frames, H, W, 3) -> one image per frame, in order
        elif item.modality == "image" and item.media is not None:
            images = [self.image_for_model(item.media)]
        content: list[dict[str, Any]] = [{"type": "text", "text": item.text}]
        for im in images:
            part: dict[str, Any] = {"url": self._data_url(im)}
            if self.cfg.image_detail:
                part["detail"] = self.cfg.image_detail
            content.append({"type": "image_url", "image_url": part})
        return [{"role": "user", "content": content}]

    async def _one(self, item: GenerationInput) -> str | GenerationFailed:
        from evalkit.chat_client import EndpointUnavailableError, RequestRejectedError

        params: dict[str, Any] = {"model": self.cfg.pretrained, "max_tokens": self.cfg.max_new_tokens,
                                  "temperature": self.cfg.temperature}
        if self.samples():
            params["seed"] = self.seed  # run.seed: servers that honour it (vLLM, OpenAI) sample reproducibly
        try:
            out = await self._client.complete(self.messages_for(item), **params)
        except RequestRejectedError as e:
            return GenerationFailed(str(e))
        except EndpointUnavailableError as e:
            raise ModelUnavailableError(str(e)) from None
        return out.text.strip()

    async def _all(self, batch: list[GenerationInput]) -> list[str | GenerationFailed]:
        return list(await asyncio.gather(*(self._one(x) for x in batch)))

    def generate(self, batch: list[GenerationInput]) -> list[str | GenerationFailed]:
        if self._client is None or self._loop is None:
            raise RuntimeError("model adapter used before load()")
        return self._loop.run(self._all(batch))

    def samples(self) -> bool:
        return self.cfg.temperature > 0

    #: Runner batches of this many times model.concurrency requests: a batch ends with its slowest
    #: reply, so batches no larger than the concurrency leave the server waiting (bench/bench_served.py).
    BATCH_PER_CONCURRENCY = 8

    def preferred_batch_size(self) -> int:
        return self.BATCH_PER_CONCURRENCY * max(1, self.cfg.concurrency)

    def prompt_for(self, item: GenerationInput) -> str:
        n = len(item.media) if item.modality == "video" and item.media is not None else int(item.modality == "image")
        return f"{item.text} [+{n} image(s) as {self.cfg.image_format}]"

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(endpoint=redact_url(self.cfg.base_url), temperature=self.cfg.temperature,
                 max_new_tokens=self.cfg.max_new_tokens, image_format=self.cfg.image_format,
                 prompt_template="server chat template (text first, then one image per frame)")
        return d
