"""GPT-assisted judging (Video-ChatGPT protocol first).

Public API::

    from evalkit.judge import JudgeConfig, JudgeItem, judge_items, dry_run, aggregate

Importing this package has no side effects (no environment reads, no network,
and the ``openai`` SDK is only imported when requests are actually sent).
"""

from evalkit.judge.aggregate import AGGREGATION_MODES, aggregate, aggregate_all_modes
from evalkit.judge.cache import JudgeCache, cache_key
from evalkit.judge.config import (
    JudgeConfig,
    JudgeItem,
    coerce_config,
    default_prices,
    is_enabled,
)
from evalkit.judge.engine import dry_run, judge_items
from evalkit.judge.errors import (
    JudgeRequestError,
    JudgeUnavailableError,
    MissingAPIKeyError,
    ParseError,
)
from evalkit.judge.protocols import (
    JUDGE_PROTOCOLS,
    JudgeProtocol,
    VideoChatGPTQA,
    get_protocol,
)

__all__ = [
    "AGGREGATION_MODES", "DryRunReport", "JUDGE_PROTOCOLS", "JudgeCache", "JudgeConfig", "JudgeItem",
    "JudgeProtocol", "JudgeRequestError", "JudgeRunSummary", "JudgeUnavailableError",
    "MissingAPIKeyError", "ParseError", "VideoChatGPTQA", "aggregate", "aggregate_all_modes",
    "cache_key", "coerce_config", "default_prices", "dry_run", "get_protocol", "is_enabled",
    "judge_items",
]
