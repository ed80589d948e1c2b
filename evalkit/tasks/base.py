"""Task adapters: one per benchmark.  A task turns files on disk into :class:`Sample` records,
says how its media are read, and scores finished prediction records.

Every task reads its benchmark in one of two data forms (``task.form``): the benchmark's
``official`` files (``_official_rows`` / ``load_samples``, the adapter's own format), or a Hugging
Face ``datasets`` source (``hf``: a ``save_to_disk`` folder, parquet/JSON/JSONL files or a hub id
with its configuration name ``hf_name`` and pinned ``hf_revision``, its columns mapped to ours by
``task.fields``).  The switch, the ``hf_path`` check and the data
fingerprint recorded in the manifest live here, once.

Adding a benchmark = one module (a ``TaskConfig`` subclass + a ``Task`` subclass registered in
:data:`TASKS`, and the module named in ``TASKS``' built-ins), one YAML under ``configs/task/``
and one test.
"""

from __future__ import annotations

import functools
import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional

from evalkit.errors import ConfigError, DataError
from evalkit.registry import Registry
from evalkit.samples import MediaSpec, PaperAnswer, Sample
from evalkit.tasks.text_files import TEXT_ERRORS, read_json, read_jsonl, text_decoding

__all__ = ["DATA_FORMS", "TASKS", "DataReport", "Task", "TaskConfig", "read_json", "read_jsonl", "sha256_file"]

# Where a task's data come from: the benchmark's official files, or a Hugging Face datasets source.
DATA_FORMS = ("official", "hf")


@dataclass
class TaskConfig:
    """Fields every task has.  Subclasses add their own; unknown fields are rejected."""

    adapter: str = "???"  # the registered Task class that reads this config
    name: str = "???"
    data_root: str = "???"
    split: str = "test"
    # Number of samples the split is documented to have; a mismatch is reported by the data check.
    expected_size: Optional[int] = None
    form: str = "official"  # official | hf
    # hf form: `hf_path` is a save_to_disk dir, a data file / glob (parquet, json, jsonl) or a hub id;
    # `fields` maps our names to the dataset's columns (``a.b``: key b of a struct column a).
    hf_path: Optional[str] = None
    hf_split: str = "test"
    # hub ids only: the dataset's configuration (subset) name, e.g. "en" of lmms-lab/MMBench, and the
    # revision (commit sha or tag) to pin; both are part of the data fingerprint when set.
    hf_name: Optional[str] = None
    hf_revision: Optional[str] = None
    fields: dict[str, str] = field(default_factory=dict)
    # Named instruction appended to each question (evalkit.tasks.instructions; "none": as is).
    instruction: str = "none"
    # Bytes of the data files that are not UTF-8: strict (a DataError naming file and byte) | replace
    # (read as U+FFFD; the job warns and counts them in the manifest).
    text_errors: str = "strict"
    # Media paths must lie inside data_root (or the configured media/image folders, the image cache,
    # a local hf_path): an absolute path, a '..' escape or a symlink out of them is that sample's error.
    # true: read media wherever the data files point (symlinked video stores, shared image folders).
    allow_outside_paths: bool = False


@dataclass
class DataReport:
    """Result of the pre-inference data check, printed as one readable summary."""

    task: str
    total: int
    missing_media: list[str] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    expected_size: Optional[int] = None
    empty_media: list[str] = field(default_factory=list)  # 0-byte media files
    unusable: list[str] = field(default_factory=list)  # samples whose data hold a problem (Sample.problem)
    empty_answers: list[str] = field(default_factory=list)  # samples with a blank reference answer
    # Samples the task's files hold when ``total`` counts only those selected (run.limit /
    # run.ids_file): the documented size is compared with the set, never with the selection.
    set_size: Optional[int] = None
    selection: Optional[str] = None  # why only some samples are checked, e.g. "run.limit=5"

    @property
    def size_mismatch(self) -> bool:
        held = self.set_size if self.set_size is not None else self.total
        return self.expected_size is not None and self.expected_size != held

    def summary(self, max_items: int = 5) -> str:
        def few(xs: list[str]) -> str:
            more = f" (+{len(xs) - max_items} more)" if len(xs) > max_items else ""
            return ", ".join(xs[:max_items]) + more

        if self.set_size is not None and self.set_size != self.total:
            why = f" ({self.selection})" if self.selection else ""
            lines = [f"[{self.task}] data check: {self.total} selected of {self.set_size} samples{why}"]
        else:
            lines = [f"[{self.task}] data check: {self.total} samples"]
        if self.expected_size is not None:
            held = self.set_size if self.set_size is not None else self.total
            flag = f"MISMATCH (the files hold {held})" if self.size_mismatch else "ok"
            lines.append(f"  expected size {self.expected_size}: {flag}")
        if self.missing_media:
            lines.append(f"  missing media for {len(self.missing_media)} samples: {few(self.missing_media)}")
        if self.empty_media:
            lines.append(f"  empty (0-byte) media for {len(self.empty_media)} samples: {few(self.empty_media)}")
        if self.unusable:
            lines.append(f"  unusable data for {len(self.unusable)} samples (each becomes its error record): "
                         f"{few(self.unusable)}")
        if self.empty_answers:
            lines.append(f"  empty reference answer for {len(self.empty_answers)} samples: {few(self.empty_answers)}")
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
            "set_size": self.set_size if self.set_size is not None else self.total,
            "expected_size": self.expected_size,
            "size_mismatch": self.size_mismatch,
            "missing_media": len(self.missing_media),
            "empty_media": len(self.empty_media),
            "unusable": len(self.unusable),
            "empty_answers": len(self.empty_answers),
            "duplicate_ids": len(self.duplicate_ids),
            "problems": list(self.problems),
        }


class Task(ABC):
    """Base class of task adapters."""

    config_cls: ClassVar[type[TaskConfig]] = TaskConfig
    registry_name: ClassVar[str]
    # Metrics shown in the leaderboard for this task, in order (keys of score()'s result).
    headline_metrics: ClassVar[tuple[str, ...]] = ("accuracy",)
    # Does this task's protocol use an LLM judge (when one is configured)?  Which protocol
    # (a name in evalkit.judge.protocols.JUDGE_PROTOCOLS)?  The judge config picks endpoint and model.
    judged: ClassVar[bool] = False
    judge_protocol: ClassVar[str] = "video_chatgpt_qa"
    # Our field names the hf form needs in every row (checked against task.fields and the columns).
    hf_required: ClassVar[tuple[str, ...]] = ()
    # What a sample carries: "video" (frames read as media_spec() says: count, sampler, order) or
    # "image" (one image, or none; no frame sampling, so no sampler is recorded for it).
    media_kind: ClassVar[str] = "video"
    # What the paper's code used to get the model's answer: conversation template, max_new_tokens,
    # temperature, image preprocessing (evalkit.prompts.answer.PaperAnswer); None = no paper protocol.
    paper_answer: ClassVar[Optional[PaperAnswer]] = None

    def __init__(self, cfg: TaskConfig) -> None:
        from evalkit.tasks.instructions import INSTRUCTIONS

        self.cfg = cfg
        self.seed = 0  # run.seed, set by the job (drives e.g. the frame shuffle of frame_order=shuffled)
        self.require_choice("form", DATA_FORMS)
        self.require_choice("instruction", INSTRUCTIONS)
        self.require_choice("text_errors", TEXT_ERRORS)
        # {file: bytes read as U+FFFD} by the last samples() (task.text_errors=replace)
        self.text_replacements: dict[str, int] = {}
        # {placeholder media path: why}: media values found unusable while reading (unusable_media)
        self.media_problems: dict[str, str] = {}

    def require_choice(self, field_name: str, choices: Iterable[Any]) -> None:
        """Start-up check of a named-option field: a ConfigError naming the valid choices."""
        choices = list(choices)
        value = getattr(self.cfg, field_name)
        if value not in choices:
            raise ConfigError(f"task {self.cfg.name}: {field_name} must be one of "
                              f"{', '.join(map(str, choices))}, got {value!r}")

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def root(self) -> Path:
        return Path(self.cfg.data_root)

    def path(self, rel: str) -> Path:
        """A configured file/folder: absolute as given, else relative to ``data_root``."""
        p = Path(rel)
        return p if p.is_absolute() else self.root / p

    @property
    def instruction_text(self) -> str:
        from evalkit.tasks.instructions import instruction_text

        return instruction_text(self.cfg.instruction)

    @abstractmethod
    def load_samples(self) -> list[Sample]:
        """Read the benchmark from ``cfg.data_root``; raise :class:`DataError` naming the file."""

    def samples(self) -> list[Sample]:
        """The samples a job evaluates: :meth:`load_samples` with the data files decoded as
        ``task.text_errors`` says, then each sample's media vetted (:mod:`evalkit.tasks.media_paths`:
        outside the data folders, or an image value that held no image, is that sample's
        ``problem``, which the job records as its error)."""
        from evalkit.tasks.media_paths import vet_media

        with text_decoding(self.cfg.text_errors) as replaced:
            samples = self.load_samples()
        self.text_replacements = dict(replaced)
        return vet_media(samples, self.media_roots(), allow_outside=self.cfg.allow_outside_paths,
                         known_problems=self.media_problems)

    def media_roots(self) -> list[Path]:
        """Folders media may be read from: ``data_root`` (and a local ``hf_path``'s folder); task
        families add their configured media folders."""
        roots = [self.root]
        if self.cfg.form == "hf" and self.cfg.hf_path and Path(self.cfg.hf_path).exists():  # not a hub id
            p = Path(self.cfg.hf_path)
            roots.append(p if p.is_dir() else p.parent)
        return roots

    def unusable_media(self, key: str, why: str) -> str:
        """A placeholder media path for a value that holds no usable media (``key``: the row it came
        from, unique per value); every sample given it becomes an error record saying ``why``,
        instead of the whole task failing."""
        from evalkit.tasks.media_paths import placeholder

        path = placeholder(self.root, key)
        self.media_problems[path] = why
        return path

    # ---- data forms ------------------------------------------------------------------------------
    def read_rows(self) -> list[dict[str, Any]]:
        """Rows of the configured data form: the benchmark's official files (``_official_rows``)
        or the Hugging Face ``datasets`` source (``_hf_rows``)."""
        return self._hf_rows() if self.cfg.form == "hf" else self._official_rows()

    def _official_rows(self) -> list[dict[str, Any]]:
        raise NotImplementedError(f"task {self.name} has no official-layout reader")

    def hf_source(self) -> str:
        """``task.hf_path``, required by the hf form."""
        if not self.cfg.hf_path:
            raise DataError(f"task {self.name}: form=hf needs task.hf_path (save_to_disk dir, data files or hub id)")
        return self.cfg.hf_path

    def _hf_rows(self) -> list[dict[str, Any]]:
        return self.load_hf_rows()

    def load_hf_rows(self, image_field: Optional[str] = None) -> list[dict[str, Any]]:
        """The hf form's rows in our field names (:func:`evalkit.tasks.hf_source.load_hf_rows` on
        ``hf_path``, ``hf_split``, ``hf_name``, ``hf_revision``, ``fields``)."""
        from evalkit.tasks.hf_source import load_hf_rows

        return load_hf_rows(self.hf_source(), self.cfg.hf_split, dict(self.cfg.fields), required=self.hf_required,
                            image_field=image_field, name=self.cfg.hf_name, revision=self.cfg.hf_revision)

    def hf_identity(self) -> dict[str, str]:
        """What names the hf form's data: path and split, and the hub config name and revision when set."""
        out = {"hf_path": str(self.cfg.hf_path), "hf_split": self.cfg.hf_split}
        out.update({k: str(v) for k, v in (("hf_name", self.cfg.hf_name), ("hf_revision", self.cfg.hf_revision))
                    if v is not None})
        return out

    def source_files(self) -> list[Path]:
        """The official files the samples (and references) came from: fingerprinted in the manifest."""
        return []

    def data_fingerprint(self) -> dict[str, str]:
        """sha256 of the files the samples came from (hf form: the source and split)."""
        if self.cfg.form == "hf":
            return self.hf_identity()
        return {f.name: sha256_file(f) for f in self.source_files() if f.is_file()}

    # ---- protocol --------------------------------------------------------------------------------
    def media_spec(self) -> MediaSpec:
        return MediaSpec(image_pad=self.image_pad())

    def image_pad(self) -> bool:
        """Whether this benchmark's images are padded to a square first (its paper's code did)."""
        return bool(self.paper_answer and self.paper_answer.image_pad)

    def protocol(self) -> dict[str, Any]:
        """Protocol details recorded in the manifest -- only fields that apply: video tasks record
        their frame count, sampler and order; image tasks ``{"media": {"modality": "image"}}`` (plus
        ``image_pad`` when images are padded to a square)."""
        spec = self.media_spec()
        if self.media_kind == "video":
            media: dict[str, Any] = {k: v for k, v in asdict(spec).items() if k != "image_pad"}
        else:  # named only when images are padded (the generation record has it always)
            media = {"modality": self.media_kind, **({"image_pad": True} if spec.image_pad else {})}
        return {"media": media, "form": self.cfg.form, "instruction": self.cfg.instruction,
                "instruction_text": self.instruction_text}

    def check(self, samples: list[Sample]) -> DataReport:
        """Pre-inference data check: duplicate ids, missing or empty media, unusable samples, blank
        reference answers, size mismatch."""
        seen: set[str] = set()
        dups: list[str] = []
        for s in samples:
            if s.id in seen:
                dups.append(s.id)
            seen.add(s.id)
        missing, empty, unusable = [], [], []
        for s in samples:
            if s.problem is not None:
                unusable.append(s.id)
            elif any(not os.path.isfile(m) for m in s.media):
                missing.append(s.id)
            elif any(os.path.getsize(m) == 0 for m in s.media):
                empty.append(s.id)
        blank = [s.id for s in samples if any(not str(a).strip() for a in s.answers)]
        report = DataReport(task=self.name, total=len(samples), missing_media=missing, duplicate_ids=dups,
                            expected_size=self.cfg.expected_size, empty_media=empty, unusable=unusable,
                            empty_answers=blank)
        for path, n in sorted(self.text_replacements.items()):
            report.problems.append(f"{path}: {n} byte(s) that are not UTF-8 read as U+FFFD (task.text_errors=replace)")
        return report

    # ---- scoring ---------------------------------------------------------------------------------
    @abstractmethod
    def score(self, records: list[dict[str, Any]], judgments: Optional[list[dict[str, Any]]] = None,
              aggregation: str = "strict") -> dict[str, Any]:
        """Metrics from finished prediction records (and judge verdicts, for judged tasks;
        ``aggregation`` is the judge config's aggregation mode)."""

    def headline(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The few numbers a leaderboard shows for this task (from ``score()``'s result)."""
        return {k: metrics[k] for k in self.headline_metrics if metrics.get(k) is not None}

    def write_artifacts(self, records: list[dict[str, Any]], task_dir: Path) -> dict[str, str]:
        """Extra files made from the predictions (e.g. an evaluation-server submission file),
        written into ``task_dir``; returns {description: path}.  Called by the score stage."""
        return {}

    def judge_items(self, records: list[dict[str, Any]]) -> list[Any]:
        """Items for the LLM judge (judged tasks only)."""
        raise NotImplementedError(f"task {self.name} is not judged")


TASKS: Registry[type[Task]] = Registry("task", plugins="evalkit.tasks", builtins=(
    "evalkit.tasks.video_qa",
    "evalkit.tasks.image.vqav2",
    "evalkit.tasks.image.gqa",
    "evalkit.tasks.image.vizwiz",
    "evalkit.tasks.image.textvqa",
    "evalkit.tasks.image.pope",
    "evalkit.tasks.image.scienceqa",
    "evalkit.tasks.image.mmbench",
    "evalkit.tasks.image.llava_bench",
    "evalkit.tasks.image.mm_vet",
))


def sha256_file(path: str | Path) -> str:
    """sha256 of a file's bytes (remembered per path, size and mtime: a large benchmark file is
    read once per process however often its fingerprint is asked for)."""
    st = Path(path).stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
