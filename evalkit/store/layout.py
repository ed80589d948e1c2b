"""The run folder's layout: every file name evalkit writes under an output folder, defined once.

::

    <output_dir>/
        leaderboard.{md,csv,html,tex,png}, leaderboard_deltas.csv
        .leaderboard.lock                       held while they are rebuilt from every metrics.json
        .judge_cache.sqlite                     judge verdicts, shared by every run below
        .hydra/                                 Hydra's own logs (hidden: never read as a run)
        .trackers/wandb/                        W&B's local run files (tracker=wandb, unless tracker.wandb.dir)
        <run>/<task>/                           one TaskFolder
            predictions.jsonl                   one line per sample (or predictions.shard-<i>-of-<n>.jsonl per rank)
            predictions.protocol.json           the protocol those predictions were made under (written before
                                                the first batch; kept with them, whatever happens to manifest.json)
            judgments.jsonl                     one line per judged sample
            metrics.json, manifest.json, report.html
            thumbnails.jsonl                    small frame strips kept from prediction, for report.html
                                                (thumbnails.shard-<i>-of-<n>.jsonl per rank)
            predictions.conflicts.jsonl         records set aside by run.repair=true (never read back)
            .writer.lock (+ .holder.json)       the one process writing this task folder
            .writer.shard-<i>-of-<n>.lock       ... or this rank's shard file
            .manifest.lock, .merge.lock, .judgments.lock
            .shards-claim.json                  which rank of a sharded run went on to judge and score

Folders and files whose name starts with ``.`` are evalkit's (or Hydra's) bookkeeping and are
never taken for a run or a task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PREDICTIONS = "predictions.jsonl"
JUDGMENTS = "judgments.jsonl"
METRICS = "metrics.json"
MANIFEST = "manifest.json"
PREDICTIONS_PROTOCOL = "predictions.protocol.json"
REPORT = "report.html"
THUMBNAILS = "thumbnails.jsonl"
JUDGE_CACHE = ".judge_cache.sqlite"
LEADERBOARD_STEM = "leaderboard"
_SHARD = re.compile(r"^predictions\.shard-(\d+)-of-(\d+)\.jsonl$")


def is_hidden(path: Path, root: Path) -> bool:
    """True when any part of ``path`` below ``root`` starts with a dot."""
    return any(part.startswith(".") for part in Path(path).relative_to(root).parts)


def default_run_name(pretrained: str) -> str:
    """A folder name from a hub id (``org/name`` -> ``org__name``) or a local path (last two parts)."""
    p = Path(pretrained)
    parts = p.parts[-2:] if (p.exists() or pretrained.startswith((".", "/"))) else pretrained.split("/")
    name = "__".join(x for x in parts if x not in ("", "/", ".", ".."))
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "run"


def shard_suffix(rank: int, num_shards: int) -> str:
    """``shard-<i>-of-<N>``: the part of a shard file's name that says which shard it holds."""
    return f"shard-{rank:03d}-of-{num_shards:03d}"


def shard_file_name(rank: int, num_shards: int) -> str:
    return PREDICTIONS if num_shards == 1 else f"predictions.{shard_suffix(rank, num_shards)}.jsonl"


def conflicts_file(predictions: Path) -> Path:
    """Where ``run.repair=true`` sets aside the records of a predictions file that lost a conflict
    (``predictions.conflicts.jsonl``, ``predictions.shard-000-of-002.conflicts.jsonl``)."""
    p = Path(predictions)
    return p.with_name(p.name[: -len(".jsonl")] + ".conflicts.jsonl")


def shard_count(path: Path) -> int | None:
    """N of a ``predictions.shard-<i>-of-<N>.jsonl`` file name, else None."""
    m = _SHARD.match(Path(path).name)
    return int(m.group(2)) if m else None


@dataclass(frozen=True)
class TaskFolder:
    """``<output_dir>/<run>/<task>/``: the files of one task of one run."""

    path: Path

    @classmethod
    def of(cls, output_dir: Path, run: str, task: str) -> "TaskFolder":
        return cls(Path(output_dir) / run / task)

    @property
    def run_name(self) -> str:
        return self.path.parent.name

    @property
    def output_dir(self) -> Path:
        return self.path.parent.parent

    @property
    def predictions(self) -> Path:
        return self.path / PREDICTIONS

    def predictions_for(self, rank: int, num_shards: int) -> Path:
        """This rank's predictions file (``predictions.jsonl`` when not sharded)."""
        return self.path / shard_file_name(rank, num_shards)

    def shard_files(self) -> list[Path]:
        return sorted(p for p in self.path.glob("predictions.shard-*-of-*.jsonl") if _SHARD.match(p.name))

    @property
    def predictions_protocol(self) -> Path:
        """The protocol the folder's predictions (every rank's) were made under."""
        return self.path / PREDICTIONS_PROTOCOL

    @property
    def judgments(self) -> Path:
        return self.path / JUDGMENTS

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def manifest(self) -> Path:
        return self.path / MANIFEST

    @property
    def report(self) -> Path:
        return self.path / REPORT

    def writer_lock(self, rank: int | None = None, num_shards: int = 1) -> Path:
        """The lock owned by the one process writing this folder (``rank``: that rank's shard file
        only, for a sharded predict stage)."""
        if rank is None or num_shards == 1:
            return self.path / ".writer.lock"
        return self.path / f".writer.{shard_suffix(rank, num_shards)}.lock"

    @property
    def manifest_lock(self) -> Path:
        return self.path / ".manifest.lock"

    @property
    def merge_lock(self) -> Path:
        return self.path / ".merge.lock"

    @property
    def judgments_lock(self) -> Path:
        return self.path / ".judgments.lock"

    @property
    def shards_claim(self) -> Path:
        return self.path / ".shards-claim.json"

    def thumbnails_for(self, rank: int, num_shards: int) -> Path:
        """This rank's thumbnail file (``thumbnails.jsonl`` when not sharded)."""
        name = THUMBNAILS if num_shards == 1 else f"thumbnails.{shard_suffix(rank, num_shards)}.jsonl"
        return self.path / name

    def thumbnail_files(self) -> list[Path]:
        return sorted(p for p in self.path.glob("thumbnails*.jsonl") if p.is_file())

    def artifact(self, name: str) -> Path:
        """A task-specific output file (a submission file, an answers file) in this folder."""
        return self.path / name


@dataclass(frozen=True)
class OutputFolder:
    """``<output_dir>/``: every run of every task, the shared judge cache and the leaderboard."""

    path: Path

    def task_folder(self, run: str, task: str) -> TaskFolder:
        return TaskFolder.of(self.path, run, task)

    def scored_task_folders(self) -> list[TaskFolder]:
        """Every ``<run>/<task>/`` holding a metrics.json (hidden folders skipped), sorted."""
        return [TaskFolder(p.parent) for p in sorted(self.path.glob(f"*/*/{METRICS}"))
                if not is_hidden(p, self.path)]

    def task_folders_with_predictions(self) -> list[TaskFolder]:
        return [TaskFolder(p.parent) for p in sorted(self.path.glob(f"*/*/{PREDICTIONS}"))
                if not is_hidden(p, self.path)]

    @property
    def judge_cache(self) -> Path:
        return self.path / JUDGE_CACHE

    def leaderboard(self, ext: str) -> Path:
        return self.path / f"{LEADERBOARD_STEM}.{ext}"

    @property
    def leaderboard_lock(self) -> Path:
        """Held while the leaderboard files are rebuilt, so the last rebuild sees every run."""
        return self.path / f".{LEADERBOARD_STEM}.lock"

    @property
    def leaderboard_deltas(self) -> Path:
        return self.path / f"{LEADERBOARD_STEM}_deltas.csv"


def run_task_folders(run_dir: Path) -> list[TaskFolder]:
    """The task folders (with predictions) of one ``<output_dir>/<run>/`` folder."""
    run_dir = Path(run_dir)
    return [TaskFolder(p) for p in sorted(run_dir.iterdir())
            if p.is_dir() and not p.name.startswith(".") and (p / PREDICTIONS).is_file()]
