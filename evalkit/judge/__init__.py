"""GPT-assisted judging (Video-ChatGPT protocol first).

Public API::

    from evalkit.judge import JudgeConfig, JudgeItem, judge_items, dry_run, aggregate

Importing this package has no side effects (no environment reads, no network,
and the ``openai`` SDK is only imported when requests are actually sent).
"""

from .aggregate import AGGREGATION_MODES, aggregate, aggregate_all_modes
from .cache import JudgeCache, cache_key
from .config import (JudgeConfig, JudgeItem, coerce_config, default_prices, is_enabled,
                     resolve_cache_path)
from .errors import (JudgeRequestError, JudgeUnavailableError, MissingAPIKeyError,
                     ParseError)
from .judgments import read_judgments
from .protocols import (JudgeProtocol, VideoChatGPTQA, get_protocol, list_protocols,
                        register_protocol)
from .runner import DryRunReport, JudgeRunSummary, dry_run, judge_items

__all__ = [
    "AGGREGATION_MODES", "DryRunReport", "JudgeCache", "JudgeConfig", "JudgeItem",
    "JudgeProtocol", "JudgeRequestError", "JudgeRunSummary", "JudgeUnavailableError",
    "MissingAPIKeyError", "ParseError", "VideoChatGPTQA", "aggregate", "aggregate_all_modes",
    "cache_key", "coerce_config", "default_prices", "dry_run", "get_protocol", "is_enabled",
    "judge_items", "list_protocols", "read_judgments", "register_protocol",
    "resolve_cache_path",
]
