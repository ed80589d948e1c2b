"""The run folder: its layout (every file name defined once), crash-safe files, locks,
prediction and judgment files.  Every module that reads or writes under an output folder goes
through this package."""

from evalkit.store.files import (
                                 append_jsonl,
                                 read_json,
                                 read_jsonl,
                                 repair_jsonl_tail,
                                 write_bytes,
                                 write_json,
                                 write_text,
)
from evalkit.store.judgments import (
                                 JudgmentLine,
                                 JudgmentsWriter,
                                 final_lines_by_id,
                                 is_final,
                                 judge_of,
                                 read_judgments,
                                 repeat_of,
)
from evalkit.store.layout import (
                                 OutputFolder,
                                 TaskFolder,
                                 default_run_name,
                                 is_hidden,
                                 run_task_folders,
                                 shard_file_name,
)
from evalkit.store.locks import WriterLock, file_lock
from evalkit.store.predictions import PredictionStore, merge_shards, read_predictions, resolve_duplicates
from evalkit.store.records import PredictionRecord, is_error
from evalkit.store.thumbnails import append_thumbnails, open_thumbnails, read_thumbnails, thumbnail_key

__all__ = [
    "JudgmentLine", "JudgmentsWriter", "OutputFolder", "PredictionRecord", "PredictionStore", "TaskFolder",
    "WriterLock", "append_jsonl",
    "default_run_name",
    "file_lock", "final_lines_by_id", "is_error", "is_final", "is_hidden", "judge_of", "merge_shards", "read_json",
    "read_jsonl", "read_judgments", "read_predictions", "repeat_of", "repair_jsonl_tail", "resolve_duplicates",
    "run_task_folders",
    "shard_file_name",
    "write_bytes", "write_json", "write_text", "append_thumbnails", "open_thumbnails", "read_thumbnails",
    "thumbnail_key",
]
