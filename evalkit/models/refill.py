"""In-flight refill: greedy decoding of a batch whose finished rows are replaced while it runs.

A static batch ends when its longest answer ends; with :class:`RefillDecoder` a row leaves the
batch at its own end-of-sequence (or ``max_new_tokens``) and a waiting question takes its place at
the next step.  The decode loop is evalkit's own, over the model's ``forward`` with a per-row
key/value cache (a transformers ``DynamicCache``):

* **Admission.**  The adapter prefills the new rows (its own prefill: a per-question prompt with its
  pixels, or, for rows sharing a medium, the question's tokens after a cached prefix -- no prefix
  is recomputed, see :mod:`evalkit.models.shared_prefix`) and hands over their per-layer key/value
  states, their attention mask (left padding = 0) and the logits of their last prompt token.  The
  first new token is chosen from those logits; the rows' states are left-padded (zeros, masked) or
  the running ones are, to one length, and concatenated to the running cache on the batch axis.
* **Step.**  One forward over each row's last token, ``position_ids`` = the row's own count of real
  tokens so far (what ``generate`` derives from the mask), the mask extended by one column; the
  next token is the argmax (EOS suppressed until ``min_new_tokens``, as ``generate``'s
  ``MinNewTokensLengthLogitsProcessor`` does).
* **Leaving.**  Finished rows are dropped from the cache (batch-index selection) and leading
  columns that are padding for every remaining row are cut, so the cache holds no more than the
  longest live row.

Padding is masked out of every attention (weight exactly 0), so each row's greedy tokens are the
ones it gets alone; the tests compare with batch 1 on fp32 checkpoints.  Only plain greedy search
is done here: a generation config that adds logits processors (repetition penalty, bad words, ...)
or sampling/beam search is refused by :func:`greedy_refusal`, and the caller records why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

# generation_config fields whose non-default values change greedy tokens (logits processors)
_PROCESSOR_FIELDS = {
    "repetition_penalty": (None, 1.0), "encoder_repetition_penalty": (None, 1.0), "no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,), "suppress_tokens": (None,), "begin_suppress_tokens": (None,),
    "forced_bos_token_id": (None,), "forced_eos_token_id": (None,), "sequence_bias": (None,),
    "min_length": (None, 0), "exponential_decay_length_penalty": (None,), "stop_strings": (None,),
    "renormalize_logits": (None, False), "token_healing": (None, False),
}


def greedy_refusal(generation_config: Any, gen_kwargs: dict[str, Any]) -> Optional[str]:
    """Why this generation cannot run in the refill loop exactly (None: it can)."""
    if gen_kwargs.get("do_sample") or int(gen_kwargs.get("num_beams") or 1) != 1:
        return "sampling or beam search (the refill loop is greedy search only)"
    if not gen_kwargs.get("max_new_tokens"):
        return "max_new_tokens unset (generate would stop at generation_config.max_length)"
    for name, defaults in _PROCESSOR_FIELDS.items():
        value = gen_kwargs.get(name, getattr(generation_config, name, None))
        if value not in defaults:
            return f"generation setting {name}={value!r} (a logits processor the refill loop does not apply)"
    return None


@dataclass
class Prefilled:
    """New rows after their prompt: per-layer (keys, values) ``[n, heads, P, dim]``, mask ``[n, P]``
    (0 = left padding), logits of each row's last prompt token ``[n, vocab]``."""

    layers: list[tuple[Any, Any]]
    mask: Any
    logits: Any


@dataclass
class _Row:
    item: Any  # the caller's handle (a GenerationInput)
    min_new: int
    max_new: int
    position: int  # position of the next token fed
    tokens: list[int] = field(default_factory=list)


@dataclass
class RefillStats:
    rows: int = 0
    admissions: int = 0  # prefill calls
    steps: int = 0  # decode forwards
    row_steps: int = 0  # sum over steps of live rows (occupancy = row_steps / steps)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "admissions": self.admissions, "steps": self.steps,
                "mean_rows_per_step": round(self.row_steps / self.steps, 3) if self.steps else None}


class RefillDecoder:
    """Rows come in with :meth:`admit` and leave, finished, from :meth:`admit` or :meth:`step`."""

    def __init__(self, model: Any, eos_ids: set[int], cache_kwarg: str,
                 limits: Callable[[Any], tuple[int, int]]) -> None:
        self.model, self.eos_ids, self._cache_kwarg, self._limits = model, eos_ids, cache_kwarg, limits
        self.rows: list[_Row] = []
        self._cache: Any = None
        self._mask: Any = None  # [B, T] long
        self._next: Any = None  # [B] next input token per row
        self.stats = RefillStats()

    @property
    def active(self) -> int:
        return len(self.rows)

    def in_flight(self) -> list[Any]:
        return [r.item for r in self.rows]

    def reset(self) -> None:
        self.rows, self._cache, self._mask, self._next = [], None, None, None

    def _choose(self, logits: Any, rows: list[_Row]) -> list[int]:
        import torch

        with torch.inference_mode():
            early = [i for i, r in enumerate(rows) if len(r.tokens) < r.min_new]
            if early and self.eos_ids:
                logits = logits.float().clone()
                logits[torch.tensor(early)[:, None], torch.tensor(sorted(self.eos_ids))[None, :]] = -float("inf")
            return torch.argmax(logits, dim=-1).tolist()

    def _advance(self, rows: list[_Row], tokens: list[int]) -> list[bool]:
        """Append each row's token; True where the row is finished."""
        done = []
        for r, t in zip(rows, tokens):
            r.tokens.append(t)
            done.append(t in self.eos_ids or len(r.tokens) >= r.max_new)
        return done

    def admit(self, items: list[Any], pre: Prefilled) -> list[tuple[Any, list[int]]]:
        """Take new rows (prefilled by the adapter); return those already finished by their first token."""
        import torch

        mask = pre.mask.to(torch.long)
        new = []
        for item, n_real in zip(items, mask.sum(-1).tolist()):
            lo, hi = self._limits(item)
            new.append(_Row(item, lo, hi, position=int(n_real)))
        self.stats.rows += len(new)
        self.stats.admissions += 1
        first = self._choose(pre.logits, new)
        done = self._advance(new, first)
        finished = [(r.item, r.tokens) for r, d in zip(new, done) if d]
        keep = [i for i, d in enumerate(done) if not d]
        if not keep:
            return finished
        sel = torch.tensor(keep, device=mask.device)
        layers = [(k.index_select(0, sel.to(k.device)), v.index_select(0, sel.to(v.device))) for k, v in pre.layers]
        self._merge([new[i] for i in keep], layers, mask.index_select(0, sel), [first[i] for i in keep])
        return finished

    def _merge(self, rows: list[_Row], layers: list[tuple[Any, Any]], mask: Any, first: list[int]) -> None:
        import torch

        device = layers[0][0].device
        nxt = torch.tensor(first, dtype=torch.long, device=device)
        mask = mask.to(device)
        if self._cache is None:
            self._cache = _cache_of(layers)
            self._mask, self._next, self.rows = mask, nxt, list(rows)
            return
        t_old, t_new = self._mask.shape[1], mask.shape[1]
        width = max(t_old, t_new)
        merged = []
        for layer, (k, v) in zip(self._cache.layers, layers):
            merged.append((torch.cat([_left_pad(layer.keys, width), _left_pad(k, width)]),
                           torch.cat([_left_pad(layer.values, width), _left_pad(v, width)])))
        self._cache = _cache_of(merged)
        self._mask = torch.cat([_left_pad(self._mask, width, dim=1), _left_pad(mask, width, dim=1)])
        self._next = torch.cat([self._next, nxt])
        self.rows += rows

    def step(self) -> list[tuple[Any, list[int]]]:
        """One token for every live row; return the rows that finished."""
        import torch

        if not self.rows:
            return []
        device = self._mask.device
        mask = torch.cat([self._mask, self._mask.new_ones((len(self.rows), 1))], dim=1)
        pos = torch.tensor([[r.position] for r in self.rows], dtype=torch.long, device=device)
        with torch.inference_mode():
            out = self.model(input_ids=self._next[:, None], attention_mask=mask, position_ids=pos,
                             use_cache=True, **{self._cache_kwarg: self._cache})
        self.stats.steps += 1
        self.stats.row_steps += len(self.rows)
        self._mask = mask
        for r in self.rows:
            r.position += 1
        tokens = self._choose(out.logits[:, -1, :], self.rows)
        done = self._advance(self.rows, tokens)
        finished = [(r.item, r.tokens) for r, d in zip(self.rows, done) if d]
        keep = [i for i, d in enumerate(done) if not d]
        if len(keep) < len(self.rows):
            self._drop(keep)
        self._next = torch.tensor([tokens[i] for i in keep], dtype=torch.long, device=device) if keep else None
        return finished

    def _drop(self, keep: list[int]) -> None:
        """Keep rows ``keep`` only, then cut the columns that are padding for all of them."""
        import torch

        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self._cache, self._mask = None, None
            return
        sel = torch.tensor(keep, device=self._mask.device)
        mask = self._mask.index_select(0, sel)
        first = int(mask.any(0).to(torch.long).argmax())  # first column some row uses
        mask = mask[:, first:]
        layers = [(layer.keys.index_select(0, sel)[:, :, first:], layer.values.index_select(0, sel)[:, :, first:])
                  for layer in self._cache.layers]
        self._cache, self._mask = _cache_of(layers), mask


def _left_pad(x: Any, width: int, dim: int = 2) -> Any:
    """``x`` with zeros prepended along ``dim`` up to ``width`` (masked padding must be finite)."""
    import torch

    missing = width - x.shape[dim]
    if missing <= 0:
        return x
    shape = list(x.shape)
    shape[dim] = missing
    return torch.cat([x.new_zeros(shape), x], dim=dim)


def _cache_of(layers: list[tuple[Any, Any]]) -> Any:
    """A DynamicCache holding these per-layer states (contiguous, so ``update`` appends cheaply)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache()
    built = []
    for k, v in layers:
        layer = DynamicLayer()
        layer.lazy_initialization(k, v)
        layer.keys, layer.values = k.contiguous(), v.contiguous()
        built.append(layer)
    cache.layers = built
    return cache


class RefillUnavailable(Exception):
    """This adapter/configuration cannot decode with in-flight refill exactly (the message says why)."""


class RefillEngine:
    """What the runner drives: inputs in (:meth:`admit`), (input, text) out as rows finish."""

    def __init__(self, decoder: RefillDecoder, prefill: Callable[[list[Any]], Prefilled],
                 to_text: Callable[[list[int]], str]) -> None:
        self.decoder, self._prefill, self._to_text = decoder, prefill, to_text

    @property
    def active(self) -> int:
        return self.decoder.active

    def in_flight(self) -> list[Any]:
        return self.decoder.in_flight()

    def reset(self) -> None:
        self.decoder.reset()

    def stats(self) -> dict[str, Any]:
        return self.decoder.stats.as_dict()

    def admit(self, inputs: list[Any]) -> list[tuple[Any, str]]:
        return self._texts(self.decoder.admit(inputs, self._prefill(inputs)))

    def step(self) -> list[tuple[Any, str]]:
        return self._texts(self.decoder.step())

    def _texts(self, done: list[tuple[Any, list[int]]]) -> list[tuple[Any, str]]:
        return [(item, self._to_text(tokens)) for item, tokens in done]
