"""Configuration and input types for the GPT-assisted judge.

``JudgeConfig`` doubles as a Hydra structured config (root field ``judge``), so
its fields use only simple types. Nothing here reads the environment; see
:mod:`evalkit.judge.endpoint` for resolving ``base_url`` and the API key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Mapping, Optional


def default_prices() -> Dict[str, Dict[str, float]]:
    """Return USD prices per 1M tokens (standard tier, no batch/caching discount).

    Compiled 2026-11-26 from OpenAI's public pricing page
    (https://openai.com/api/pricing, developers.openai.com/api/docs/pricing) as
    reproduced by public price listings dated March–November 2026; legacy
    gpt-3.5-turbo snapshots use their last published prices. Prices change:
    verify before budgeting and override ``judge.prices`` as needed (write the
    values as floats, e.g. ``1.0``, or OmegaConf rejects them).
    Lookup uses the exact model name, else the longest ``<key>-...`` prefix.
    """
    def p(inp: float, out: float) -> Dict[str, float]:
        return {"input_per_1m": inp, "output_per_1m": out}

    return {
        "gpt-3.5-turbo": p(0.50, 1.50),        # alias of gpt-3.5-turbo-0125
        "gpt-3.5-turbo-0125": p(0.50, 1.50),
        "gpt-3.5-turbo-1106": p(1.00, 2.00),
        "gpt-3.5-turbo-0613": p(1.50, 2.00),   # snapshot used in the Video-ChatGPT era
        "gpt-4o-mini": p(0.15, 0.60),
        "gpt-4o": p(2.50, 10.00),
        "gpt-4o-2024-05-13": p(5.00, 15.00),
        "gpt-4-turbo": p(10.00, 30.00),
        "gpt-4": p(30.00, 60.00),
        "gpt-4.1": p(2.00, 8.00),
        "gpt-4.1-mini": p(0.40, 1.60),
        "gpt-4.1-nano": p(0.10, 0.40),
        "gpt-5": p(1.25, 10.00),
        "gpt-5-mini": p(0.25, 2.00),
        "gpt-5-nano": p(0.05, 0.40),
    }


@dataclass
class JudgeConfig:
    """Settings of the GPT-assisted judge (Hydra structured config ``judge``).

    ``name == "none"`` disables the judge (exact-match metrics only).
    ``api_key_env`` is the *name* of the environment variable holding the key;
    the key itself never appears in configs, outputs or logs.
    """

    name: str = "none"
    protocol: str = "video_chatgpt_qa"
    model: str = "gpt-3.5-turbo"
    base_url: Optional[str] = None          # else env OPENAI_BASE_URL, else the SDK default
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 16
    max_retries: int = 8                    # transport retries: 429/5xx/timeouts/connection errors
    parse_retries: int = 2                  # re-asks when a reply cannot be parsed
    timeout_s: float = 60.0                 # one request
    item_deadline_s: float = 300.0          # one item, retries and re-asks included: then the judge is unavailable
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    temperature: float = 0.0
    max_tokens: int = 64
    aggregation: str = "strict"             # "strict" | "paper"
    # Judge prompt: auto (the reference's when imported with `evalkit-prompts import`, else
    # evalkit's wording) | reference (required) | evalkit | custom:<name> (an imported variant).
    prompt: str = "auto"
    # Sampling arguments with a reference prompt: reference (exactly what its script sends; for
    # video QA none, so the API's defaults apply) | config (temperature/max_tokens above: a deviation).
    sampling: str = "reference"
    cache_path: Optional[str] = None        # default: <output_dir>/.judge_cache.sqlite (one per output folder)
    # Longest judge reply used (UTF-8 bytes); a longer one is unusable, stored cut to this size with its
    # full size (`reply_bytes`). None: the protocol's own limit (4096 for verdict protocols).
    max_reply_bytes: Optional[int] = None
    dry_run: bool = False
    # Verdicts drawn per item (judge noise, evalkit.judge.noise): 1 = the paper's protocol; k > 1 asks the same
    # request k times, each draw with its own cache entry (repeat 0 is the verdict the headline uses).
    repeats: int = 1
    prices: Dict[str, Dict[str, float]] = field(default_factory=default_prices)
    # Where the judge runs: http (an OpenAI-compatible endpoint: base_url, api_key_env, concurrency) |
    # transformers (in-process, open weights: judge.model = hub id or local folder, loaded after prediction on
    # the run's device, batched, left-padded, greedy; see evalkit.judge.local_client).
    backend: str = "http"
    revision: Optional[str] = None          # transformers: the hub revision (branch, tag or commit) of judge.model
    # The judge's weights, which make its identity (judge_id, the verdict keys): filled in from the files for
    # backend=transformers; stated by you for a served open-weight judge (vLLM, SGLang): the repo and commit it
    # serves (and, if you know it, the sha256 evalkit prints for those files).  Null for hosted judges.
    weights_repo: Optional[str] = None
    weights_revision: Optional[str] = None
    weights_sha256: Optional[str] = None
    device: str = "auto"                    # transformers: auto (cuda if available, else cpu) | cpu | cuda:1 ...
    dtype: str = "auto"                     # transformers: auto (bfloat16/float16 on CUDA, float32 on CPU) | ...
    batch_size: int = 16                    # transformers: requests per generate() call


@dataclass
class JudgeItem:
    """One thing to judge: a question, its reference answer and a prediction.

    ``extra`` is copied verbatim into the judgment line (must be JSON-serialisable);
    protocols may also read protocol-specific inputs from it.
    """

    id: str
    question: str
    answer: str
    pred: str
    extra: Dict[str, Any] = field(default_factory=dict)


def coerce_config(cfg: Any) -> JudgeConfig:
    """Return a ``JudgeConfig`` from a ``JudgeConfig``, an OmegaConf node or a mapping.

    Unknown keys raise ``ValueError`` so typos do not silently fall back to defaults.
    """
    if isinstance(cfg, JudgeConfig):
        return cfg
    if cfg is None:
        return JudgeConfig()
    data: Mapping[str, Any]
    try:  # OmegaConf DictConfig (only imported when such an object is passed)
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            obj = OmegaConf.to_object(cfg)
            if isinstance(obj, JudgeConfig):
                return obj
            data = obj  # type: ignore[assignment]
        else:
            data = cfg
    except ImportError:  # pragma: no cover - omegaconf is a project dependency
        data = cfg
    if not isinstance(data, Mapping):
        raise TypeError(f"cannot build a JudgeConfig from {type(cfg).__name__}")
    known = {f.name for f in fields(JudgeConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown judge config field(s): {', '.join(unknown)}")
    return JudgeConfig(**dict(data))


def is_enabled(cfg: Any) -> bool:
    """True unless the judge is switched off (``name: none``)."""
    return str(coerce_config(cfg).name).lower() != "none"


def resolve_cache_path(cfg: Any, output_dir: Path) -> Path:
    """Cache file to use: ``cfg.cache_path`` if set, else the output folder's shared cache
    (``<output_dir>/.judge_cache.sqlite``, see :mod:`evalkit.store.layout`)."""
    from evalkit.store.layout import OutputFolder

    c = coerce_config(cfg)
    if c.cache_path:
        return Path(c.cache_path).expanduser()
    return OutputFolder(Path(output_dir)).judge_cache


def validate_config(cfg: JudgeConfig) -> None:
    """Raise ``ValueError`` on settings that cannot work (checked before any request)."""
    if cfg.concurrency < 1:
        raise ValueError("judge.concurrency must be >= 1")
    if cfg.max_retries < 0 or cfg.parse_retries < 0:
        raise ValueError("judge.max_retries and judge.parse_retries must be >= 0")
    if cfg.timeout_s <= 0 or cfg.item_deadline_s <= 0:
        raise ValueError("judge.timeout_s and judge.item_deadline_s must be > 0")
    if cfg.backoff_base_s < 0 or cfg.backoff_max_s < 0:
        raise ValueError("judge backoff settings must be >= 0")
    if cfg.aggregation not in ("strict", "paper"):
        raise ValueError(f"judge.aggregation must be 'strict' or 'paper', got {cfg.aggregation!r}")
    if cfg.prompt not in ("auto", "reference", "evalkit") and not (
            cfg.prompt.startswith("custom:") and len(cfg.prompt) > len("custom:")):
        raise ValueError(f"judge.prompt must be auto, reference, evalkit or custom:<name>, got {cfg.prompt!r}")
    if cfg.sampling not in ("reference", "config"):
        raise ValueError(f"judge.sampling must be 'reference' or 'config', got {cfg.sampling!r}")
    if isinstance(cfg.repeats, bool) or not isinstance(cfg.repeats, int) or cfg.repeats < 1:
        raise ValueError(f"judge.repeats must be an integer >= 1 (verdicts drawn per item), got {cfg.repeats!r}")
    if cfg.max_reply_bytes is not None and cfg.max_reply_bytes < 64:
        raise ValueError("judge.max_reply_bytes must be >= 64 (or null: the protocol's limit), "
                         f"got {cfg.max_reply_bytes}")
    if not cfg.model:
        raise ValueError("judge.model must be set (e.g. judge.model=<served model name>)")
    if cfg.backend not in ("http", "transformers"):
        raise ValueError(f"judge.backend must be 'http' or 'transformers', got {cfg.backend!r}")
    if cfg.batch_size < 1:
        raise ValueError("judge.batch_size must be >= 1")
