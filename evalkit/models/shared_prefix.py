"""Prefill once: answer many questions about one video/image from a single cached prefix.

For Video-LLaVA the prompt is ``<template head> <media tokens> <question> <template tail>``: every
token up to the last media token (the ~2,000 visual tokens included) is the same for all questions
about one video.  This module computes that prefix once, keeps its key/value states, and lets every
question of the group continue from them.  It is exact by construction at the token level:

1. **Tokenize the full prompt exactly as the per-question path does.**  The processor's own
   placeholder expansion (``get_text_with_replacements``) runs on each row's full prompt, with the
   replacement string the processor produced in one real ``processor(text=..., videos=...)`` call
   for that medium, and the processor's tokenizer encodes the result.  The row that made that real
   call is compared with the processor's output; any difference and the batch goes through the
   per-question path instead (counted in :attr:`SharedPrefixGenerator.stats`).
2. **Split after the last media token.**  ``prefix = ids[:p]``, ``suffix = ids[p:]``, so
   ``prefix + suffix`` *is* the per-question token sequence.  Rows whose media key and prefix ids
   are equal share one prefix; the prefix and question are never tokenized separately, so any
   conversation template works as long as the media placeholder precedes the question.
3. **Prefill each distinct prefix once** (vision tower + language model, the batch's new prefixes
   together, left-padded, positions following the mask).  Its key/value states are kept in a small
   LRU (:data:`PREFIX_CACHE_ENTRIES`), so a group that spans two batches is prefilled once.
4. **Continue each row from its prefix.**  The batch cache holds, per row, its prefix's states
   left-padded to the longest prefix; input ids are ``[pad][prefix][pad][suffix]`` with attention
   mask 0 on both pads.  ``generate()`` resumes from the cache (it runs only the columns after the
   cached ones) and derives positions from the mask (``cumsum - 1``), so each suffix token sits at
   the position it has in the per-question prompt.  Greedy outputs equal the per-question path's
   (tests: ``tests/test_shared_prefix.py``).

Only greedy decoding with one beam is shared (sampling would draw its random numbers in another
order; beams would need the cache expanded per beam); anything else uses the per-question path.
Positions must be 1-D (``cumsum - 1`` of the mask): a model with 3-D multimodal positions (M-RoPE,
Qwen2-VL / Qwen2.5-VL) is refused (:class:`NotShareable`), never shared approximately.

Each adapter declares what it does (:class:`PrefixSharing`, recorded as ``shared_prefix`` in the
manifest): supported and how, or not supported and what runs instead, and why.
"""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

# Prefixes (per media key) whose key/value states outlive their batch.  The runner schedules the
# questions of one medium contiguously, so only the last group of a batch can continue into the
# next one: 2 entries cover that with one to spare.  Each entry costs one prefix's KV (Video-LLaVA-7B
# in fp16: about 0.5 MiB per token, ~1 GiB for 8 frames).
PREFIX_CACHE_ENTRIES = 2


class NotShareable(Exception):
    """This batch cannot take the shared path (the caller uses the per-question path)."""


@dataclass(frozen=True)
class PrefixSharing:
    """An adapter's declared shared-prefix capability (``ModelAdapter.prefix_sharing``)."""

    supported: bool
    mechanism: Optional[str] = None  # how the prefix is shared, when supported
    fallback: Optional[str] = None  # what runs instead, and why, when not supported
    greedy_only: bool = True

    def as_dict(self) -> dict[str, Any]:
        if self.supported:
            return {"supported": True, "mechanism": self.mechanism, "greedy_only": self.greedy_only}
        return {"supported": False, "fallback": self.fallback}


def uses_3d_positions(model: Any) -> bool:
    """Does the model place tokens with 3-D multimodal rotary positions (M-RoPE)?"""
    config = getattr(model, "config", None)
    text = getattr(config, "text_config", None) or config
    rope = getattr(text, "rope_parameters", None) or getattr(text, "rope_scaling", None) or {}
    return isinstance(rope, dict) and "mrope_section" in rope


@dataclass
class Row:
    """One question: the rendered prompt and its medium (``key`` identifies the medium)."""

    prompt: str
    modality: str  # "video" | "image"
    media: Any
    key: str


@dataclass
class _MediaEntry:
    replacement: str  # what the processor expands the placeholder into, for this medium
    prefixes: dict[tuple[int, ...], list[tuple[Any, Any]]] = field(default_factory=dict)  # prefix ids -> KV


@dataclass
class SharingStats:
    rows: int = 0  # rows generated through the shared path
    prefills: int = 0  # prefixes computed (vision tower + prefill)
    prefix_reuse_across_batches: int = 0  # prefixes served from the LRU instead of recomputed
    fallback_batches: int = 0  # batches sent to the per-question path
    fallback_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "prefills": self.prefills,
                "prefix_reuse_across_batches": self.prefix_reuse_across_batches,
                "fallback_batches": self.fallback_batches, "fallback_reasons": dict(self.fallback_reasons)}


def _cache_kwarg(model: Any) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` (5.x); use the name this version takes."""
    params = inspect.signature(type(model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


class SharedPrefixGenerator:
    """Greedy generation for rows that share media, prefilling each distinct prefix once."""

    def __init__(self, model: Any, processor: Any, device: Any, dtype: Any,
                 cache_entries: int = PREFIX_CACHE_ENTRIES) -> None:
        self.model, self.processor, self.device, self.dtype = model, processor, device, dtype
        self.cache_entries = cache_entries
        self._entries: OrderedDict[str, _MediaEntry] = OrderedDict()
        self.stats = SharingStats()
        tok = processor.tokenizer
        self._pad_id = tok.pad_token_id
        self._placeholder = {"video": processor.video_token, "image": processor.image_token}
        self._media_ids = {processor.video_token_id, processor.image_token_id}
        self._cache_name = _cache_kwarg(model)
        self._mrope = uses_3d_positions(model)

    def clear(self) -> None:
        self._entries.clear()

    def note_fallback(self, reason: str) -> None:
        self.stats.fallback_batches += 1
        self.stats.fallback_reasons[reason] = self.stats.fallback_reasons.get(reason, 0) + 1

    # ---- tokenization ------------------------------------------------------------------
    def _process_one(self, row: Row) -> tuple[dict[str, Any], str, list[int]]:
        """The processor's full output for one row: (tensors, replacement string, input ids)."""
        kind = "videos" if row.modality == "video" else "images"
        out = self.processor(text=[row.prompt], **{kind: [row.media]}, return_tensors="pt",
                             return_text_replacement_offsets=True)
        offsets = out.pop("text_replacement_offsets", None)
        if not offsets or len(offsets[0]) != 1:
            raise NotShareable("prompt must hold exactly one media placeholder")
        ids = out["input_ids"][0].tolist()
        return dict(out), offsets[0][0]["replacement"], ids

    def _expand(self, rows: Sequence[Row], replacements: Sequence[str]) -> list[list[int]]:
        """Token ids of every full prompt, expanded and tokenized as the processor does."""
        images = [r for r, row in zip(replacements, rows) if row.modality == "image"]
        videos = [r for r, row in zip(replacements, rows) if row.modality == "video"]
        texts, _ = self.processor.get_text_with_replacements(
            [row.prompt for row in rows], images_replacements=images, videos_replacements=videos)
        return list(self.processor.tokenizer(texts)["input_ids"])

    # ---- the shared path ---------------------------------------------------------------
    def generate(self, rows: Sequence[Row], gen_kwargs: dict[str, Any]) -> list[list[int]]:
        """New token ids for each row (greedy), or NotShareable."""
        import torch

        input_ids, mask, cache, start = self.prepare(rows, room_after=int(gen_kwargs.get("max_new_tokens") or 0))
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                                      **{self._cache_name: cache}, **gen_kwargs)
        self.stats.rows += len(rows)
        return [seq.tolist() for seq in out[:, start:]]

    def prepare(self, rows: Sequence[Row], room_after: int) -> tuple[Any, Any, Any, int]:
        """Steps 1-3 for ``rows``: (input ids, attention mask, the cache holding each row's prefix,
        the column where the prompts end); the model continues from the cache with the columns after
        the cached ones.  ``room_after``: cache positions reserved past the prompts.  NotShareable
        when the rows cannot take the shared path."""
        import torch

        if self._mrope:
            raise NotShareable("3-D (M-RoPE) positions: the shared path continues 1-D positions")
        for row in rows:
            if row.modality not in self._placeholder or row.prompt.count(self._placeholder[row.modality]) != 1:
                raise NotShareable("prompt must hold exactly one media placeholder")
        # 1. replacement strings: remembered per medium, or from one real processor call
        entries: dict[str, _MediaEntry] = {}
        fresh: dict[str, tuple[dict[str, Any], list[int], int]] = {}  # key -> (tensors, ids, row index)
        for i, row in enumerate(rows):
            if row.key in entries:
                continue
            known = self._entries.get(row.key)
            if known is None:
                tensors, replacement, ref_ids = self._process_one(row)
                known = _MediaEntry(replacement)
                fresh[row.key] = (tensors, ref_ids, i)
            entries[row.key] = known
        ids = self._expand(rows, [entries[row.key].replacement for row in rows])
        if any(ids[i] != ref_ids for _, ref_ids, i in fresh.values()):
            raise NotShareable("placeholder expansion differs from the processor's output")
        # 2. split after the last media token: prefix + suffix == the per-question ids
        splits = []
        for row_ids in ids:
            last = max((j for j, t in enumerate(row_ids) if t in self._media_ids), default=-1)
            if last < 0:
                raise NotShareable("no media token in the tokenized prompt")
            if last + 1 == len(row_ids):  # every row's last prompt token must be fed after the cache
                raise NotShareable("nothing follows the media tokens")
            splits.append(last + 1)
        prefix_of = [(row.key, tuple(row_ids[:p])) for row, row_ids, p in zip(rows, ids, splits)]
        # 3. prefill the prefixes not cached yet, together in one forward
        unique = list(dict.fromkeys(prefix_of))
        kv_of = {pk: entries[pk[0]].prefixes[pk[1]] for pk in unique if pk[1] in entries[pk[0]].prefixes}
        self.stats.prefix_reuse_across_batches += len(kv_of)
        todo = [pk for pk in unique if pk not in kv_of]
        if todo:
            kv_of.update(self._prefill(todo, rows, fresh))
        # the LRU keeps the batch's last media (only they can continue into the next batch)
        for key in entries:
            self._remember(key, entries[key])
        for pk in todo:
            entry = self._entries.get(pk[0])
            if entry is not None:  # a copy, so the batch's prefill tensors can be freed
                entry.prefixes[pk[1]] = [(k.clone(), v.clone()) for k, v in kv_of[pk]]
        # 4. the batch's ids and mask; generation continues from the assembled cache
        n = len(rows)
        plen = [len(pk[1]) for pk in prefix_of]
        suffixes = [row_ids[p:] for row_ids, p in zip(ids, splits)]
        lp, ls = max(plen), max(len(s) for s in suffixes)
        input_ids = torch.full((n, lp + ls), self._pad_id, dtype=torch.long)
        mask = torch.zeros((n, lp + ls), dtype=torch.long)
        for i, (pk, suf) in enumerate(zip(prefix_of, suffixes)):
            p = len(pk[1])
            input_ids[i, lp - p:lp] = torch.tensor(pk[1], dtype=torch.long)
            mask[i, lp - p:lp] = 1
            if suf:
                input_ids[i, lp + ls - len(suf):] = torch.tensor(suf, dtype=torch.long)
                mask[i, lp + ls - len(suf):] = 1
        cache = self._assemble(prefix_of, kv_of, lp, room=ls + room_after)
        return input_ids, mask, cache, lp + ls

    def _remember(self, key: str, entry: _MediaEntry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.cache_entries:
            self._entries.popitem(last=False)

    def _prefill(self, todo: list[tuple[str, tuple[int, ...]]], rows: Sequence[Row],
                 fresh: dict[str, tuple[dict[str, Any], list[int], int]]) -> dict[Any, list[tuple[Any, Any]]]:
        """Prefill each prefix in ``todo`` (vision tower + language model); return its per-layer KV
        (batch 1, no padding)."""
        import torch

        first_row = {}
        for i, row in enumerate(rows):
            first_row.setdefault(row.key, i)
        videos, images = [], []
        for key, _ in todo:
            if key in fresh:
                tensors = fresh[key][0]
            else:  # medium known, this prefix not cached: pixels from a real processor call
                tensors = self._process_one(rows[first_row[key]])[0]
            if "pixel_values_videos" in tensors:
                videos.append(tensors["pixel_values_videos"])
            elif "image_sizes" in tensors:  # any-resolution tiles: the prefill would need each image's size
                raise NotShareable("images with any-resolution tiles (image_sizes)")
            else:
                images.append(tensors["pixel_values_images"] if "pixel_values_images" in tensors
                              else tensors["pixel_values"])
        u, lmax = len(todo), max(len(p) for _, p in todo)
        ids = torch.full((u, lmax), self._pad_id, dtype=torch.long)
        mask = torch.zeros((u, lmax), dtype=torch.long)
        for j, (_, p) in enumerate(todo):
            ids[j, lmax - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[j, lmax - len(p):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        kw: dict[str, Any] = {}
        if videos:
            kw["pixel_values_videos"] = torch.cat(videos).to(self.device, dtype=self.dtype)
        if images:
            kw["pixel_values"] = torch.cat(images).to(self.device, dtype=self.dtype)
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                             position_ids=pos.to(self.device), use_cache=True, logits_to_keep=1, **kw)
        cache = getattr(out, "cache", None)
        if cache is None:
            cache = out.past_key_values
        layers = getattr(cache, "layers", None)
        if not layers or any(getattr(layer, "is_sliding", False) for layer in layers):
            raise NotShareable("the language model's cache is not a plain full-attention DynamicCache")
        self.stats.prefills += u
        result = {}
        for j, (key, p) in enumerate(todo):
            n = len(p)
            result[(key, p)] = [(layer.keys[j:j + 1, :, lmax - n:, :], layer.values[j:j + 1, :, lmax - n:, :])
                                for layer in layers]
        return result

    def _assemble(self, prefix_of: list[tuple[str, tuple[int, ...]]],
                  kv_of: dict[Any, list[tuple[Any, Any]]], lp: int, room: int) -> Any:
        """The batch cache: row i holds its prefix's states, left-padded (zeros, masked) to ``lp``,
        in storage with ``room`` more positions (the question and the new tokens)."""
        import torch
        from transformers import DynamicCache

        rows_of: dict[Any, list[int]] = {}
        for i, pk in enumerate(prefix_of):
            rows_of.setdefault(pk, []).append(i)
        n = len(prefix_of)
        first = next(iter(kv_of.values()))
        layers = []
        for li in range(len(first)):
            k0, v0 = first[li]
            keys = k0.new_empty((n, k0.shape[1], lp + room, k0.shape[3]))
            values = v0.new_empty((n, v0.shape[1], lp + room, v0.shape[3]))
            for pk, idx in rows_of.items():
                k, v = kv_of[pk][li]
                p = k.shape[2]
                sel = torch.tensor(idx, device=keys.device)
                keys[sel, :, lp - p:lp, :] = k.to(keys.device)
                values[sel, :, lp - p:lp, :] = v.to(values.device)
                if p < lp:  # left padding: masked, but must be finite (0 x NaN would be NaN)
                    keys[sel, :, :lp - p, :] = 0
                    values[sel, :, :lp - p, :] = 0
            layers.append(_PreallocatedLayer(keys, values, lp))
        cache = DynamicCache()
        cache.layers = layers
        return cache


@functools.cache  # built once, on first use (it subclasses a transformers class: no import at import time)
def _preallocated_layer_class() -> type:
    from transformers.cache_utils import DynamicLayer

    class PreallocatedLayer(DynamicLayer):
        """A ``DynamicLayer`` whose storage holds the whole generation from the start: ``update``
        writes new states in place, where ``DynamicLayer`` concatenates (copying the whole cache,
        ~2,000 visual tokens per row, at every new token).  ``keys``/``values`` are views of the
        filled part, so attention sees exactly what a ``DynamicLayer`` would hold."""

        def __init__(self, keys: Any, values: Any, length: int) -> None:
            super().__init__()
            self._kbuf, self._vbuf, self._len = keys, values, length
            self.device = keys.device
            self.is_initialized = True
            self._expose()

        def _expose(self) -> None:
            self.keys = self._kbuf[:, :, :self._len, :]
            self.values = self._vbuf[:, :, :self._len, :]

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:  # never uninitialized
            pass

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            import torch

            end = self._len + key_states.shape[-2]
            if end > self._kbuf.shape[-2]:  # more than planned: grow (not expected for greedy generation)
                extra = max(end - self._kbuf.shape[-2], self._kbuf.shape[-2] // 2)
                pad = list(self._kbuf.shape)
                pad[2] = extra
                self._kbuf = torch.cat([self._kbuf, self._kbuf.new_zeros(pad)], dim=2)
                self._vbuf = torch.cat([self._vbuf, self._vbuf.new_zeros(pad)], dim=2)
            self._kbuf[:, :, self._len:end, :] = key_states
            self._vbuf[:, :, self._len:end, :] = value_states
            self._len = end
            self._expose()
            return self.keys, self.values

        def crop(self, tokens_to_remove: int) -> None:
            if tokens_to_remove < 0:
                self._len = max(0, self._len + tokens_to_remove)
                self._expose()
            else:
                super().crop(tokens_to_remove)

        def batch_repeat_interleave(self, repeats: int) -> None:
            self._kbuf = self._kbuf.repeat_interleave(repeats, dim=0)
            self._vbuf = self._vbuf.repeat_interleave(repeats, dim=0)
            self._expose()

        def batch_select_indices(self, indices: Any) -> None:
            self._kbuf, self._vbuf = self._kbuf[indices, ...], self._vbuf[indices, ...]
            self._expose()

        def reorder_cache(self, beam_idx: Any) -> None:
            self.batch_select_indices(beam_idx.to(self._kbuf.device))

    return PreallocatedLayer


def _PreallocatedLayer(keys: Any, values: Any, length: int) -> Any:  # noqa: N802 (a class built lazily)
    return _preallocated_layer_class()(keys, values, length)


def rows_from(batch: Sequence[Any], prompt_for: Callable[[Any], str]) -> Optional[list[Row]]:
    """Rows for the shared path, or None when some input has no media key (the runner sets keys
    only when ``runner.share_prefix`` is on) or no image/video."""
    rows = []
    for x in batch:
        key = getattr(x, "share_key", None)
        if key is None or x.modality not in ("video", "image") or x.media is None:
            return None
        rows.append(Row(prompt_for(x), x.modality, x.media, key))
    return rows
