"""What a judge run reports: :class:`DryRunReport` (what would be sent, and its cost) and
:class:`JudgeRunSummary` (what a run did: requests, cache hits, re-asks, tokens, cost, metrics over
the lines in use, and the snapshots that answered)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class DryRunReport:
    """What a run would do; nothing is sent. Costs are rough (≈4 chars/token)."""

    protocol: str
    prompt_version: str
    prompt_hash: str
    model: str
    endpoint: str
    n_items: int
    n_already_judged: int        # ids already final in the judgments file (if given)
    n_cache_hits: int            # items answered from the cache
    n_requests: int              # distinct requests that would be sent (cache misses)
    est_prompt_tokens: int
    est_completion_tokens: int
    est_cost_usd: Optional[float]
    api_key_present: bool        # whether the env var named by api_key_env is set

    def to_dict(self) -> Dict[str, Any]:
        """Plain-dict form (JSON-serialisable)."""
        return asdict(self)


@dataclass
class JudgeRunSummary:
    """Outcome of :func:`judge_items` (token and request counts are for this run only)."""

    protocol: str
    prompt_version: str
    prompt_hash: str
    model: str
    endpoint: str
    returned_models: List[str]   # snapshots that answered, from the lines in use (cache included)
    n_items: int
    n_resumed: int               # already final (same identity) in the judgments file; not rewritten
    n_written: int               # lines appended by this run
    n_cache_hits: int            # lines served from the persistent cache
    n_deduplicated: int          # lines sharing a request with an identical item
    n_requests: int              # HTTP requests sent (incl. retries and re-asks)
    n_retries: int               # transport retries
    n_reasks: int                # re-asks after unparseable replies
    n_failed: int                # items rejected by the endpoint (4xx), left unjudged
    failed_ids: List[str]
    status_counts: Dict[str, int]  # over the final lines of all n_items
    prompt_tokens: int
    completion_tokens: int
    est_cost_usd: Optional[float]
    wall_time_s: float
    requests_per_s: float
    aggregation: str
    metrics: Dict[str, Dict[str, Any]]  # {"strict": ..., "paper": ...} over all n_items
    judgments_path: str
    cache_path: str
    dry_run: Optional[DryRunReport] = None
    transport_failures: Dict[str, int] = field(default_factory=dict)
    n_changed: int = 0           # items whose earlier line judged another request (re-judged)
    n_without_model: int = 0     # lines in use that do not say which model answered

    def to_dict(self) -> Dict[str, Any]:
        """Plain-dict form (JSON-serialisable)."""
        return asdict(self)
