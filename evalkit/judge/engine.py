"""Judge a set of items: cache lookup, concurrent requests, JSONL output, summary.

Judgment line schema (one JSON object per item, written as each finishes)::

    id, question, answer, pred        -- the item
    status        "ok" | "parse_error" | "score_out_of_range" (protocol-defined) | "reply_too_long"
                  (a reply over judge.max_reply_bytes: unusable, never re-asked)
    verdict       protocol-defined dict; video_chatgpt_qa:
                  {"pred": "yes"|"no", "pred_raw": str, "score": int, "score_raw": number}
                  (partial for failures)
    raw           the judge's last reply text (a reply over the byte limit: its first bytes)
    reply_bytes   only on "reply_too_long" lines: the full size of that reply, in UTF-8 bytes
    replies       every reply text obtained for the verdict, first to last (re-asks included)
    error         why parsing failed, else null
    protocol, prompt_version, prompt_hash
    key           the verdict's identity (:func:`evalkit.judge.identity.item_key`): the item
                  material, the judge (:func:`evalkit.judge.identity.judge_key_model`: the requested
                  model, or the weights' sha256 for open weights), protocol name, version and prompt
                  hash it is valid for
    judge_id      the judge's stable identity (:func:`evalkit.judge.identity.judge_id`): a hosted
                  judge's requested model name; open weights ``<repo>@<revision>#<sha256[:12]>``.
                  Lines written before it existed lack it and stay readable.
    requested_model, returned_model   -- cfg.model / what the API reported (kept in the cache,
                  so cached and resumed lines name the snapshot that answered too; an in-process
                  judge reports its judge_id)
    latency_s     seconds from first request to verdict (incl. retries, re-asks)
    tokens        {"prompt": int, "completion": int} spent obtaining the verdict
    attempts      HTTP requests made for the verdict; parse_attempts: replies parsed
    cached        true if no request was sent for this line (verdict reused)
    judged_at     UTC ISO time the verdict was obtained
    extra         JudgeItem.extra, verbatim
    repeat        which draw of ``judge.repeats`` this verdict is (0-based; 0 = the item's verdict,
                  keyed exactly as without repeats; draw r > 0 has its own key and cache entry,
                  :func:`evalkit.judge.identity.repeat_key`)

For cached lines, latency/tokens/attempts describe the original request; run
totals in :class:`JudgeRunSummary` count only requests sent by this run, while
its metrics, status counts and ``returned_models`` describe the lines in use
for the items (resumed and cached ones included).

A verdict (an item's draw) is settled when any final line carries its current
``key`` (resume); an item whose prediction (or question, answer, judge model,
protocol or prompt) changed is judged again and its new line appended, and the
lines of other judges or other draws are never overwritten.

One file keeps the verdicts of every judge that judged the run (``judge_id`` on each line):
judging it again with another judge appends that judge's lines, and going back to an earlier
judge costs no request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar

from evalkit.judge.aggregate import aggregate_all_modes
from evalkit.judge.cache import JudgeCache
from evalkit.judge.cache_repair import corruption, open_cache
from evalkit.judge.client import ClientStats, JudgeAborted, JudgeClient
from evalkit.judge.config import JudgeConfig, JudgeItem, coerce_config, is_enabled, validate_config
from evalkit.judge.cost import cost_usd, estimate_prompt_tokens, total_cost_usd
from evalkit.judge.endpoint import display_url, resolve_base_url, resolve_endpoint
from evalkit.judge.errors import JudgeRequestError, JudgeUnavailableError, ParseError
from evalkit.judge.identity import item_key, judge_id, judge_key_model, line_key, match_judgments, repeat_key
from evalkit.judge.noise import effective_repeats
from evalkit.judge.protocols import JudgeProtocol, get_protocol
from evalkit.judge.reports import DryRunReport, JudgeRunSummary
from evalkit.store.judgments import JudgmentLine, JudgmentsWriter, is_final, read_judgments, repeat_of

log = logging.getLogger(__name__)
T = TypeVar("T")


# -- helpers -----------------------------------------------------------------

def _check_ids(items: Sequence[JudgeItem]) -> None:
    seen: Counter = Counter(str(it.id) for it in items)
    dups = [i for i, n in seen.items() if n > 1]
    if dups:
        raise ValueError(f"duplicate item ids ({len(dups)}), e.g. {dups[:5]}; ids must be unique")


@dataclass
class _Draw(JudgeItem):
    """Draw ``repeat`` (> 0) of an item's verdict (``judge.repeats``): the same request, its own key."""

    repeat: int = 0


def _draws(items: Sequence[JudgeItem], repeats: int) -> List[JudgeItem]:
    """Every verdict to obtain: the items themselves (draw 0), then draws 1..repeats-1 of each."""
    return list(items) + [_Draw(it.id, it.question, it.answer, it.pred, it.extra, repeat=r)
                          for r in range(1, int(repeats)) for it in items]


def _item_key(item: JudgeItem, cfg: JudgeConfig, protocol: JudgeProtocol) -> str:
    return repeat_key(item_key(item, judge_key_model(cfg), protocol), getattr(item, "repeat", 0))


def _by_this_judge(line: Dict[str, Any], cfg: JudgeConfig) -> bool:
    """Whether ``line`` was written by the judge ``cfg`` names (old lines: by its requested model)."""
    if line.get("judge_id"):
        return line["judge_id"] == judge_id(cfg)
    return line.get("requested_model") == cfg.model and not cfg.weights_sha256


def _pending(items: Sequence[JudgeItem], path: Path, cfg: JudgeConfig,
             protocol: JudgeProtocol) -> Tuple[List[JudgeItem], int]:
    """(verdicts still to obtain, how many of them this judge had judged for another request).

    A verdict is settled when any final line in ``path`` carries its current identity."""
    finals = [ln for ln in read_judgments(path) if "id" in ln and is_final(ln)]
    settled = {(str(ln["id"]), line_key(ln)) for ln in finals}
    mine = {(str(ln["id"]), repeat_of(ln)) for ln in finals if _by_this_judge(ln, cfg)}
    todo, changed = [], 0
    for it in items:
        if (str(it.id), _item_key(it, cfg, protocol)) in settled:
            continue
        todo.append(it)
        changed += (str(it.id), getattr(it, "repeat", 0)) in mine
    return todo, changed


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _make_line(item: JudgeItem, outcome: Dict[str, Any], *, cached: bool, key: str,
               judge: str) -> Dict[str, Any]:
    replies = outcome.get("replies")
    return JudgmentLine(
        id=str(item.id), question=item.question, answer=item.answer, pred=item.pred, status=outcome["status"],
        verdict=outcome.get("verdict") or {}, raw=outcome.get("raw"),
        replies=list(replies) if isinstance(replies, list) else [outcome.get("raw")], error=outcome.get("error"),
        protocol=outcome["protocol"], prompt_version=outcome["prompt_version"], prompt_hash=outcome["prompt_hash"],
        key=key, requested_model=outcome["requested_model"], judge_id=judge, returned_model=outcome.get("returned_model"),
        latency_s=outcome.get("latency_s"), tokens=outcome.get("tokens") or {"prompt": 0, "completion": 0},
        attempts=outcome.get("attempts", 0), parse_attempts=outcome.get("parse_attempts", 0), cached=cached,
        judged_at=outcome.get("judged_at"), extra=item.extra, repeat=getattr(item, "repeat", 0),
        reply_bytes=outcome.get("reply_bytes"),
    ).to_line()


def _where(cfg: JudgeConfig) -> str:
    """Where the judge runs, for summaries: the endpoint (credentials removed), or ``in-process``."""
    return display_url(resolve_base_url(cfg)) if cfg.backend == "http" else f"in-process ({cfg.device})"


def _run(coro: Awaitable[T]) -> T:
    """Run a coroutine to completion, also from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()  # type: ignore[arg-type]


REPLY_TOO_LONG = "reply_too_long"


def reply_limit(cfg: JudgeConfig, protocol: JudgeProtocol) -> int:
    """The reply byte limit: ``judge.max_reply_bytes``, else the protocol's."""
    return int(cfg.max_reply_bytes) if cfg.max_reply_bytes is not None else int(protocol.max_reply_bytes)


def cap_reply(text: str, limit: int) -> Tuple[str, Optional[int]]:
    """``(text, None)`` when ``text`` fits in ``limit`` UTF-8 bytes, else (its first ``limit`` bytes
    -- whole characters --, its full size)."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text, None
    return data[:limit].decode("utf-8", "ignore"), len(data)


async def _judge_one(client: JudgeClient, protocol: JudgeProtocol, cfg: JudgeConfig,
                     item: JudgeItem) -> Dict[str, Any]:
    """Ask the judge about one item, re-asking up to ``parse_retries`` times."""
    messages = protocol.build_messages(item)
    conversation = messages
    t0 = time.perf_counter()
    attempts = prompt_toks = completion_toks = 0
    status, verdict, error, text, model = "parse_error", {}, None, "", None
    replies: List[str] = []
    tries = 0
    limit = reply_limit(cfg, protocol)
    too_long: Optional[int] = None
    deadline = time.monotonic() + float(cfg.item_deadline_s)  # the item's whole time, re-asks included
    for tries in range(1, int(cfg.parse_retries) + 2):
        comp = await client.complete(conversation, protocol.sampling_args(cfg, tries), deadline=deadline)
        attempts += comp.attempts
        prompt_toks += comp.prompt_tokens
        completion_toks += comp.completion_tokens
        text, model = comp.text, comp.model or model
        text, too_long = cap_reply(text, limit)
        replies.append(text)
        if too_long is not None:  # a runaway reply: unusable, and never asked again
            status, verdict = REPLY_TOO_LONG, {}
            error = f"reply of {too_long} bytes is over judge.max_reply_bytes={limit}; stored truncated"
            log.warning("judge reply for item %s: %s", item.id, error)
            break
        try:
            verdict, status, error = protocol.parse(text), "ok", None
            break
        except ParseError as exc:
            verdict, status, error = exc.partial, exc.status, str(exc)
            if not exc.retry:  # final: the protocol takes this reply as it is
                break
            conversation = protocol.repair_messages(messages, text, exc)
    return {
        "status": status, "verdict": verdict, "raw": text, "replies": replies, "error": error,
        "protocol": protocol.name, "prompt_version": protocol.version,
        "prompt_hash": protocol.prompt_hash, "requested_model": cfg.model,
        "returned_model": model, "latency_s": round(time.perf_counter() - t0, 6),
        "tokens": {"prompt": prompt_toks, "completion": completion_toks},
        "attempts": attempts, "parse_attempts": tries, "judged_at": _now_iso(), "reply_bytes": too_long,
    }


class _Progress:
    """tqdm bar over items with requests/s and token counts in the postfix."""

    def __init__(self, total: int, initial: int, enabled: bool) -> None:
        self._bar = None
        if enabled and total:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, unit="item", desc="judge",
                             dynamic_ncols=True)
        self._t0 = time.perf_counter()

    def update(self, n: int, stats: ClientStats) -> None:
        if self._bar is None:
            return
        dt = max(time.perf_counter() - self._t0, 1e-9)
        self._bar.set_postfix(req=stats.requests, req_s=f"{stats.requests / dt:.1f}",
                              tok=stats.prompt_tokens + stats.completion_tokens, refresh=False)
        self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@dataclass
class _RunState:
    written: int = 0
    dedup: int = 0
    reasks: int = 0
    failed_ids: List[str] = field(default_factory=list)
    stats: ClientStats = field(default_factory=ClientStats)
    send_time_s: float = 0.0


async def _judge_groups(groups: "OrderedDict[str, List[JudgeItem]]", protocol: JudgeProtocol,
                        cfg: JudgeConfig, endpoint: Any, cache: JudgeCache,
                        writer: JudgmentsWriter, bar: _Progress, state: _RunState) -> None:
    """Judge one request per cache key with ``concurrency`` workers; raise the first fatal error."""
    stop = asyncio.Event()
    queue: deque[Tuple[str, List[JudgeItem]]] = deque(groups.items())
    fatal: List[BaseException] = []
    t0 = time.perf_counter()
    if endpoint is None:  # open weights in-process: the same protocol code, one batched generate per round
        from evalkit.judge.local_client import LocalJudgeClient

        client_cm: Any = LocalJudgeClient(cfg, stop=stop)
        width = max(int(cfg.batch_size), int(cfg.concurrency))
    else:
        client_cm, width = JudgeClient(endpoint, cfg, stop=stop), int(cfg.concurrency)
    async with client_cm as client:
        state.stats = client.stats

        async def worker() -> None:
            while queue and not stop.is_set():
                key, group = queue.popleft()
                try:
                    outcome = await _judge_one(client, protocol, cfg, group[0])
                    cache.put(key, outcome)  # cache first: a crash after this re-uses it
                    for i, item in enumerate(group):
                        writer.write(_make_line(item, outcome, cached=i > 0, key=key, judge=judge_id(cfg)))
                        state.written += 1
                except JudgeAborted:
                    return
                except asyncio.CancelledError:
                    stop.set()
                    raise
                except JudgeRequestError as exc:
                    ids = [str(it.id) for it in group]
                    state.failed_ids.extend(ids)
                    log.warning("%s; items left unjudged: %s", exc, ids[:5])
                    bar.update(len(group), client.stats)
                    continue
                except BaseException as exc:  # fatal: stop everyone, keep what is done
                    fatal.append(exc)
                    stop.set()
                    return
                state.reasks += outcome["parse_attempts"] - 1
                state.dedup += len(group) - 1
                bar.update(len(group), client.stats)

        try:
            await asyncio.gather(*(worker() for _ in range(min(width, len(queue)))))
        finally:
            state.send_time_s = time.perf_counter() - t0
    if fatal:
        raise fatal[0]


# -- public API ----------------------------------------------------------------

def dry_run(items: Iterable[JudgeItem], cfg: Any, cache_path: Path, *,
            judgments_path: Optional[Path] = None, protocol: Optional[JudgeProtocol] = None) -> DryRunReport:
    """Count the requests a run would send (cache misses) and estimate their cost.

    Sends nothing and creates no file. With ``judgments_path``, items already
    final there are excluded, as a real run would.  ``protocol``: the protocol object
    to judge with (default: the registered one named ``cfg.protocol``).
    """
    cfg = coerce_config(cfg)
    validate_config(cfg)
    protocol = protocol or get_protocol(cfg.protocol)
    if cfg.backend == "transformers" and not cfg.weights_sha256:
        from evalkit.judge.startup import fill_weights

        fill_weights(cfg)
    items = list(items)
    draws = _draws(items, effective_repeats(cfg))
    todo = _pending(draws, Path(judgments_path), cfg, protocol)[0] if judgments_path else draws
    firsts: "OrderedDict[str, JudgeItem]" = OrderedDict()
    for it in todo:
        firsts.setdefault(_item_key(it, cfg, protocol), it)
    hits: Dict[str, Any] = {}
    why = corruption(Path(cache_path))
    if why is not None:  # a real run sets it aside and rebuilds it from the judgments
        log.warning("judge cache %s could not be read (%s): counted as empty here; a run sets it aside and "
                    "rebuilds it from the judgments.jsonl files", cache_path, why)
    elif Path(cache_path).exists():
        with JudgeCache(Path(cache_path)) as cache:
            hits = cache.get_many(firsts.keys())
    missing = [it for k, it in firsts.items() if k not in hits]
    n_cache_hits = sum(1 for it in todo if _item_key(it, cfg, protocol) in hits)
    p_tok = sum(estimate_prompt_tokens(protocol.build_messages(it)) for it in missing)
    c_tok = protocol.expected_completion_tokens * len(missing)
    return DryRunReport(
        protocol=protocol.name, prompt_version=protocol.version,
        prompt_hash=protocol.prompt_hash, model=cfg.model,
        endpoint=_where(cfg), n_items=len(items),
        n_already_judged=len(draws) - len(todo), n_cache_hits=n_cache_hits,
        n_requests=len(missing), est_prompt_tokens=p_tok, est_completion_tokens=c_tok,
        est_cost_usd=cost_usd(cfg.model, p_tok, c_tok, cfg.prices),
        api_key_present=bool(cfg.api_key_env and os.environ.get(cfg.api_key_env)))


def judge_items(items: Iterable[JudgeItem], cfg: Any, *, judgments_path: Path,
                cache_path: Path, progress: bool = True,
                protocol: Optional[JudgeProtocol] = None) -> JudgeRunSummary:
    """Judge every item, appending one JSON line per item to ``judgments_path``.

    Resumable: ids already final in the file are neither re-judged nor rewritten,
    and a truncated last line is dropped. Cached verdicts are reused (0 requests),
    identical requests within the run are sent once. With ``cfg.dry_run`` nothing
    is sent or written and the summary carries a :class:`DryRunReport`.

    Raises :class:`JudgeUnavailableError` (endpoint named, key never) when the
    judge cannot be reached or refuses the credentials — after every verdict
    obtained so far has been cached and written; the partial summary is attached
    as ``exc.summary``.  ``protocol``: the protocol object to judge with (default: the
    registered one named ``cfg.protocol``).
    """
    t_start = time.perf_counter()
    cfg = coerce_config(cfg)
    validate_config(cfg)
    if not is_enabled(cfg):
        raise ValueError("the judge is disabled (judge.name is 'none'); nothing to judge")
    protocol = protocol or get_protocol(cfg.protocol)
    if cfg.backend == "transformers" and not cfg.weights_sha256:
        from evalkit.judge.startup import fill_weights

        fill_weights(cfg)  # the weights' identity keys the verdicts
    items = list(items)
    _check_ids(items)
    judgments_path, cache_path = Path(judgments_path), Path(cache_path)

    if cfg.dry_run:
        report = dry_run(items, cfg, cache_path, judgments_path=judgments_path, protocol=protocol)
        log.info("judge dry run: %s", report.to_dict())
        return _summary(items, cfg, protocol, judgments_path, cache_path, _RunState(),
                        n_resumed=report.n_already_judged, n_cache_hits=0,
                        wall=time.perf_counter() - t_start, dry=report)

    state = _RunState()
    cache = open_cache(cache_path, judgments_path)  # a corrupt one: set aside, rebuilt from the judgments
    writer = JudgmentsWriter(judgments_path).open()
    counts = {"resumed": 0, "cache_hits": 0, "changed": 0}
    args = (items, cfg, protocol, judgments_path, cache_path, state, counts, t_start)
    try:
        _judge_pending(items, cfg, protocol, writer, cache, state, counts, progress)
    except BaseException as exc:
        writer.close()
        cache.close()
        try:
            summary = _finish(*args)
        except Exception:  # pragma: no cover - only on I/O failure; keep the real error
            log.exception("could not summarise the interrupted judge run")
            summary = None
        if isinstance(exc, JudgeUnavailableError):
            exc.summary = summary  # type: ignore[attr-defined]
        raise
    writer.close()
    cache.close()
    return _finish(*args)


def _judge_pending(items: Sequence[JudgeItem], cfg: JudgeConfig, protocol: JudgeProtocol,
                   writer: JudgmentsWriter, cache: JudgeCache, state: _RunState,
                   counts: Dict[str, int], progress: bool) -> None:
    """Write cached verdicts, then send one request per remaining distinct item (and draw)."""
    draws = _draws(items, effective_repeats(cfg))
    todo, counts["changed"] = _pending(draws, writer.path, cfg, protocol)
    counts["resumed"] = len(draws) - len(todo)
    if counts["changed"]:
        log.info("%d item(s) changed since they were judged (prediction, question, answer, judge "
                 "model or prompt): judged again", counts["changed"])
    keyed = [(_item_key(it, cfg, protocol), it) for it in todo]
    hits = cache.get_many(k for k, _ in keyed)
    groups: "OrderedDict[str, List[JudgeItem]]" = OrderedDict()
    for key, item in keyed:
        if key not in hits:
            groups.setdefault(key, []).append(item)
            continue
        writer.write(_make_line(item, hits[key], cached=True, key=key, judge=judge_id(cfg)))
        state.written += 1
        counts["cache_hits"] += 1
    if not groups:
        return
    # fails here, before sending, if a key is needed; None: the in-process judge
    endpoint = resolve_endpoint(cfg) if cfg.backend == "http" else None
    bar = _Progress(total=len(todo), initial=counts["cache_hits"], enabled=progress)
    try:
        _run(_judge_groups(groups, protocol, cfg, endpoint, cache, writer, bar, state))
    finally:
        bar.close()


def _finish(items: Sequence[JudgeItem], cfg: JudgeConfig, protocol: JudgeProtocol,
            judgments_path: Path, cache_path: Path, state: _RunState, counts: Dict[str, int],
            t_start: float) -> JudgeRunSummary:
    """Build and log the run summary."""
    summary = _summary(items, cfg, protocol, judgments_path, cache_path, state,
                       n_resumed=counts["resumed"], n_cache_hits=counts["cache_hits"],
                       wall=time.perf_counter() - t_start, n_changed=counts["changed"])
    log.info("judge: %d items, %d resumed, %d written, %d cache hits, %d requests "
             "(%.1f req/s), %d+%d tokens, est. cost %s USD, endpoint %s, models %s",
             summary.n_items, summary.n_resumed, summary.n_written, summary.n_cache_hits,
             summary.n_requests, summary.requests_per_s, summary.prompt_tokens,
             summary.completion_tokens,
             "n/a" if summary.est_cost_usd is None else f"{summary.est_cost_usd:.4f}",
             summary.endpoint, summary.returned_models)
    return summary


def _summary(items: Sequence[JudgeItem], cfg: JudgeConfig, protocol: JudgeProtocol,
             judgments_path: Path, cache_path: Path, state: _RunState, *, n_resumed: int,
             n_cache_hits: int, wall: float, dry: Optional[DryRunReport] = None,
             n_changed: int = 0) -> JudgeRunSummary:
    lines = match_judgments(items, read_judgments(judgments_path), judge_key_model(cfg), protocol).lines
    models = [ln.get("returned_model") for ln in lines]
    st = state.stats
    return JudgeRunSummary(
        protocol=protocol.name, prompt_version=protocol.version,
        prompt_hash=protocol.prompt_hash, model=cfg.model,
        endpoint=_where(cfg),
        returned_models=sorted({str(m) for m in models if m}), n_items=len(items),
        n_resumed=n_resumed, n_written=state.written, n_cache_hits=n_cache_hits,
        n_deduplicated=state.dedup, n_requests=st.requests, n_retries=st.retries,
        n_reasks=state.reasks, n_failed=len(state.failed_ids),
        failed_ids=list(state.failed_ids),
        status_counts=dict(Counter(str(ln.get("status")) for ln in lines)),
        prompt_tokens=st.prompt_tokens, completion_tokens=st.completion_tokens,
        est_cost_usd=total_cost_usd(st.tokens_by_model, cfg.prices, fallback_model=cfg.model),
        wall_time_s=round(wall, 4),
        requests_per_s=round(st.requests / state.send_time_s, 3) if state.send_time_s else 0.0,
        aggregation=cfg.aggregation, metrics=aggregate_all_modes(lines),
        judgments_path=str(judgments_path), cache_path=str(cache_path), dry_run=dry,
        transport_failures=dict(st.failures), n_changed=n_changed,
        n_without_model=sum(1 for m in models if not m))
