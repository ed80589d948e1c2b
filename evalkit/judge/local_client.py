"""An open-weight judge in-process: a chat LM run through transformers behind the judge client's interface.

:class:`LocalJudgeClient` has what the engine uses of :class:`evalkit.judge.client.JudgeClient` --
``async with``, ``await complete(messages, sampling)`` returning a :class:`Completion`, ``stats`` -- so the
cache, resume, protocols, re-asks and parsing are the HTTP judge's own code.  The engine's workers each
await one request; a batcher collects the requests waiting at that moment (up to ``judge.batch_size``) into
one ``generate`` call: each conversation rendered with the checkpoint's own chat template
(``add_generation_prompt``), left-padded, greedy (``do_sample=False``; the sampling arguments a protocol
asks for are not used: an in-process judge is always greedy, recorded in the manifest), at most the request's
``max_tokens`` new tokens (else ``judge.max_tokens``).  Greedy continuations of a left-padded batch equal
those of each conversation alone (up to floating-point ties), so the batch composition does not change a
verdict.  The model is loaded on entering (after prediction: the job releases the VLM first) on
``judge.device`` and released on exit.  Each reply reports the judge's identity (:func:`judge_id`) as the
model that answered.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from evalkit.chat_client import Aborted, ClientStats, Completion
from evalkit.judge.identity import judge_id

Conversation = Sequence[Mapping[str, Any]]


def _device(name: str) -> str:
    import torch

    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def _dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, name)


class LocalJudgeModel:
    """Tokenizer + causal LM of the judge, loaded from ``path`` (a resolved snapshot or folder)."""

    def __init__(self, path: str, *, device: str = "auto", dtype: str = "auto") -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = _device(device)
        self.dtype = _dtype(dtype, self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=self.dtype).to(self.device).eval()

    def render(self, conversation: Conversation) -> str:
        """The prompt text of one conversation: the checkpoint's chat template, ready for the reply."""
        return self.tokenizer.apply_chat_template([dict(m) for m in conversation], add_generation_prompt=True,
                                                  tokenize=False)

    def generate(self, conversations: Sequence[Conversation], max_new_tokens: Sequence[int]
                 ) -> List[Tuple[str, int, int]]:
        """Greedy replies: (text, prompt tokens, completion tokens) per conversation."""
        import torch

        enc = self.tokenizer([self.render(c) for c in conversations], return_tensors="pt", padding=True,
                             add_special_tokens=False).to(self.device)
        with torch.inference_mode():
            out = self.model.generate(**enc, do_sample=False, max_new_tokens=max(max_new_tokens),
                                      pad_token_id=self.tokenizer.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:].tolist()
        results = []
        for row, mask, cap in zip(new, enc["attention_mask"].tolist(), max_new_tokens):
            ids = row[:cap]
            if self.tokenizer.eos_token_id in ids:
                ids = ids[:ids.index(self.tokenizer.eos_token_id) + 1]
            text = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
            results.append((text, int(sum(mask)), len(ids)))
        return results

    def close(self) -> None:
        import torch

        self.model = None  # type: ignore[assignment]
        gc.collect()
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()


class LocalJudgeClient:
    """The in-process judge behind the engine's client interface (see the module docs)."""

    def __init__(self, cfg: Any, *, stop: Optional[asyncio.Event] = None, model: Optional[Any] = None) -> None:
        self.cfg = cfg
        self.stats = ClientStats()
        self.identity = judge_id(cfg)
        self._stop = stop
        self._model = model
        self._queue: Optional[asyncio.Queue] = None
        self._task: Optional[asyncio.Task] = None

    async def __aenter__(self) -> "LocalJudgeClient":
        if self._model is None:
            from evalkit.judge.weights import weights_folder

            path = weights_folder(str(self.cfg.model), self.cfg.weights_revision or self.cfg.revision)
            self._model = await asyncio.to_thread(LocalJudgeModel, str(path), device=self.cfg.device,
                                                  dtype=self.cfg.dtype)
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._batches())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - its requests were answered or failed
                pass
        model, self._model = self._model, None
        if model is not None and hasattr(model, "close"):
            model.close()

    async def complete(self, messages: Sequence[Mapping[str, Any]],
                       sampling: Optional[Mapping[str, Any]] = None, *,
                       deadline: Optional[float] = None) -> Completion:
        """One greedy reply to ``messages`` (``sampling``: only ``max_tokens`` is read).  ``deadline``
        (``judge.item_deadline_s``) is not applied: a local forward pass neither hangs nor is retried,
        and cutting a batch mid-generation would leave its other items' verdicts unfinished."""
        if self._queue is None:
            raise RuntimeError("LocalJudgeClient must be used inside 'async with'")
        if self._stop is not None and self._stop.is_set():
            raise Aborted()
        cap = int((sampling or {}).get("max_tokens") or self.cfg.max_tokens)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._queue.put((list(messages), cap, fut))
        text, p_tok, c_tok = await fut
        st = self.stats
        st.requests += 1
        st.prompt_tokens += p_tok
        st.completion_tokens += c_tok
        bucket = st.tokens_by_model.setdefault(self.identity, {"prompt": 0, "completion": 0})
        bucket["prompt"] += p_tok
        bucket["completion"] += c_tok
        st.returned_models.add(self.identity)
        return Completion(text=text, model=self.identity, prompt_tokens=p_tok, completion_tokens=c_tok,
                          latency_s=0.0, attempts=1)

    async def _batches(self) -> None:
        """Answer the waiting requests, up to ``batch_size`` per ``generate`` call."""
        assert self._queue is not None
        size = max(1, int(self.cfg.batch_size))
        while True:
            batch = [await self._queue.get()]
            await asyncio.sleep(0)  # let the workers that are ready queue their requests too
            while len(batch) < size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outs = await asyncio.to_thread(self._model.generate, [b[0] for b in batch], [b[1] for b in batch])
            except Exception as e:  # noqa: BLE001 - every waiting request gets the failure
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            for (_, _, fut), out in zip(batch, outs):
                if not fut.done():
                    fut.set_result(out)
