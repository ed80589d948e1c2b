"""Task adapters: one per benchmark.  A task turns files on disk into :class:`Sample` records,
says how its media are read, and scores finished prediction records.

Adding a benchmark = one module here (a ``TaskConfig`` subclass + a ``Task`` subclass
registered in :data:`TASKS`), one YAML under ``configs/task/`` and one test.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional

from evalkit.prompts.answer import PaperAnswer
from evalkit.registry import Registry
from evalkit.samples import Sample


@dataclass
class TaskConfig:
    """Fields every task has.  Subclasses add their own; unknown fields are rejected."""

    adapter: str = "???"  # the registered Task class that reads this config
    name: str = "???"
    data_root: str = "???"
    split: str = "test"
    # Number of samples the split is documented to have; a mismatch is reported by the data check.
    expected_size: Optional[int] = None


@dataclass(frozen=True)
class MediaSpec:
    """How the runner reads this task's media (recorded in the manifest)."""

    num_frames: int = 8
    sampler: str = "uniform_linspace"
    frame_order: str = "original"
    seed: int = 0
    # Images: pad to a square with the CLIP processor's mean colour before the processor (LLaVA's
    # process_images with image_aspect_ratio 'pad'), as the paper's code did for this benchmark.
    image_pad: bool = False


@dataclass
class DataReport:
    """Result of the pre-inference data check, printed as one readable summary."""

    task: str
    total: int
    missing_media: list[str] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    expected_size: Optional[int] = None

    @property
    def size_mismatch(self) -> bool:
        return self.expected_size is not None and self.expected_size != self.total

    def summary(self, max_items: int = 5) -> str:
        def few(xs: list[str]) -> str:
            more = f" (+{len(xs) - max_items} more)" if len(xs) > max_items else ""
            return ", ".join(xs[:max_items]) + more

        lines = [f"[{self.task}] data check: {self.total} samples"]
        if self.expected_size is not None:
            flag = "MISMATCH" if self.size_mismatch else "ok"
            lines.append(f"  expected size {self.expected_size}: {flag}")
        if self.missing_media:
            lines.append(f"  missing media for {len(self.missing_media)} samples: {few(self.missing_media)}")
        if self.duplicate_ids:
            lines.append(f"  duplicate ids ({len(self.duplicate_ids)}): {few(self.duplicate_ids)}")
        for p in self.problems:
            lines.append(f"  {p}")
        if len(lines) == 1 or (len(lines) == 2 and not self.size_mismatch and self.expected_size is not None):
            lines.append("  no problems found")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "expected_size": self.expected_size,
            "size_mismatch": self.size_mismatch,
            "missing_media": len(self.missing_media),
            "duplicate_ids": len(self.duplicate_ids),
            "problems": list(self.problems),
        }


# Where a task's data come from: the benchmark's official files, or a Hugging Face datasets source.
DATA_FORMS = ("official", "hf")


class DataError(ValueError):
    """Benchmark files that cannot be read; the message names the file."""


class Task(ABC):
    """Base class of task adapters."""

    config_cls: ClassVar[type[TaskConfig]] = TaskConfig
    registry_name: ClassVar[str]
    # Metrics shown in the leaderboard for this task, in order (keys of score()'s result).
    headline_metrics: ClassVar[tuple[str, ...]] = ("accuracy",)
    # Does this task's protocol use an LLM judge (when one is configured)?  Which protocol
    # (a name in evalkit.judge's protocol registry)?  The judge config picks endpoint and model.
    judged: ClassVar[bool] = False
    judge_protocol: ClassVar[str] = "video_chatgpt_qa"
    # What the paper's code used to get the model's answer: conversation template, max_new_tokens,
    # temperature, image preprocessing (evalkit.prompts.answer.PaperAnswer); None = no paper protocol.
    paper_answer: ClassVar[Optional[PaperAnswer]] = None

    def __init__(self, cfg: TaskConfig) -> None:
        self.cfg = cfg
        if getattr(cfg, "form", None) is not None:
            self.require_choice("form", DATA_FORMS)

    def require_choice(self, field_name: str, choices: Iterable[Any]) -> None:
        """Start-up check of a named-option field: a ConfigError naming the valid choices."""
        choices = list(choices)
        value = getattr(self.cfg, field_name)
        if value not in choices:
            from evalkit.config import ConfigError

            raise ConfigError(f"task {self.cfg.name}: {field_name} must be one of "
                              f"{', '.join(map(str, choices))}, got {value!r}")

    @property
    def name(self) -> str:
        return self.cfg.name

    @abstractmethod
    def load_samples(self) -> list[Sample]:
        """Read the benchmark from ``cfg.data_root``; raise :class:`DataError` naming the file."""

    def read_rows(self) -> list[dict[str, Any]]:
        """Rows of the configured data form (tasks with a ``form`` field): the benchmark's
        official files (``_official_rows``) or a Hugging Face ``datasets`` source (``_hf_rows``)."""
        return self._hf_rows() if getattr(self.cfg, "form", "official") == "hf" else self._official_rows()

    def _official_rows(self) -> list[dict[str, Any]]:
        raise NotImplementedError(f"task {self.name} has no official-layout reader")

    def _hf_rows(self) -> list[dict[str, Any]]:
        raise NotImplementedError(f"task {self.name} has no Hugging Face datasets reader")

    def media_spec(self) -> MediaSpec:
        return MediaSpec(image_pad=self.image_pad())

    def image_pad(self) -> bool:
        """Whether this benchmark's images are padded to a square first (its paper's code did)."""
        return bool(self.paper_answer and self.paper_answer.image_pad)

    def check(self, samples: list[Sample]) -> DataReport:
        """Pre-inference data check: duplicate ids, missing media, size mismatch."""
        seen: set[str] = set()
        dups: list[str] = []
        for s in samples:
            if s.id in seen:
                dups.append(s.id)
            seen.add(s.id)
        missing = [s.id for s in samples if any(not Path(m).is_file() for m in s.media)]
        return DataReport(
            task=self.name,
            total=len(samples),
            missing_media=missing,
            duplicate_ids=dups,
            expected_size=self.cfg.expected_size,
        )

    @abstractmethod
    def score(self, records: list[dict[str, Any]], judgments: Optional[list[dict[str, Any]]] = None,
              aggregation: str = "strict") -> dict[str, Any]:
        """Metrics from finished prediction records (and judge verdicts, for judged tasks;
        ``aggregation`` is the judge config's aggregation mode)."""

    def headline(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The few numbers a leaderboard shows for this task (from ``score()``'s result)."""
        return {k: metrics[k] for k in self.headline_metrics if metrics.get(k) is not None}

    def write_artifacts(self, records: list[dict[str, Any]], task_dir: Path) -> dict[str, str]:
        """Extra files made from the predictions (e.g. an evaluation-server submission file);
        returns {description: path}.  Called by the score stage."""
        return {}

    def judge_items(self, records: list[dict[str, Any]]) -> list[Any]:
        """Items for the LLM judge (judged tasks only)."""
        raise NotImplementedError(f"task {self.name} is not judged")

    def protocol(self) -> dict[str, Any]:
        """Protocol details recorded in the manifest."""
        media = asdict(self.media_spec())
        if not media["image_pad"]:
            del media["image_pad"]  # named only when images are padded (the generation record has it always)
        return {"media": media}

    def data_fingerprint(self) -> dict[str, str]:
        """sha256 of the annotation files the samples came from (recorded in the manifest)."""
        return {}


TASKS: Registry[Task] = Registry("task")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_json(path: Path, what: str) -> Any:
    """Load a JSON file or raise a DataError naming it."""
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"{what} is not valid JSON: {path}: line {e.lineno}: {e.msg}") from None


def read_jsonl(path: Path, what: str, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Objects of a JSONL file; a DataError names the file and line of anything unreadable."""
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{what} {path}: line {lineno} is not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{what} {path}: line {lineno} is not a JSON object")
            missing = [k for k in required if k not in obj]
            if missing:
                raise DataError(f"{what} {path}: line {lineno} lacks {', '.join(missing)}: {line.strip()[:120]}")
            rows.append(obj)
    return rows
