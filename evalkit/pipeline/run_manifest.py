"""The run manifest (``manifest.json``): the protocol a task folder's predictions were made under,
the code and environment, and what each stage did.

Invariants: a folder's predictions all come from one protocol (a resumed run must match it, or
``run.overwrite`` discards them).  That protocol is also stored with the predictions
(``predictions.protocol.json``, written before their first batch), and that record is the one
checked: deleting or replacing ``manifest.json`` can never relabel predictions.  Stage entries
written by several ranks of a sharded run are merged, never lost (read-merge-write under the
folder's manifest lock).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from evalkit.errors import ConfigError
from evalkit.manifest import environment, git_info, now_iso, package_versions, scrub, stable_hash
from evalkit.pipeline.run_warnings import RunWarnings
from evalkit.store import TaskFolder, file_lock, read_json, write_json
from evalkit.tasks.base import Task

# Model config fields that change where/how fast a model runs, not what it outputs.
RUNTIME_MODEL_FIELDS = {"device", "cpu_threads", "attn_implementation"}
# allow_outside_paths: which media may be read, not how they are evaluated (turning it on to finish
# samples that errored must not make the folder's predictions "another protocol")
RUNTIME_TASK_FIELDS = {"data_root", "expected_size", "image_cache_dir", "allow_outside_paths"}


def protocol_of(task: Task, model, seed: int = 0) -> dict[str, Any]:
    """Everything that determines the outputs; a resumed run must match it exactly (``seed``:
    run.seed, part of it only when the model samples).  Credentials (in a served model's URL, say)
    are redacted: they are never written, and never part of it."""
    tcfg = {f.name: getattr(task.cfg, f.name) for f in fields(task.cfg) if f.name not in RUNTIME_TASK_FIELDS}
    mcfg = {f.name: getattr(model.cfg, f.name) for f in fields(model.cfg) if f.name not in RUNTIME_MODEL_FIELDS}
    out = {"task_adapter": task.registry_name, "task_config": tcfg, "task_protocol": task.protocol(),
           "data": task.data_fingerprint(), "model_adapter": model.registry_name, "model_config": mcfg,
           "model_weights": model.weights_identity()}
    setup = getattr(model, "answer_setup", None)
    if setup is not None:  # the template text that ran (by hash) and the settings it ran with
        out["answer_prompt"] = {k: setup.answer_prompt[k] for k in ("template", "hash", "source")}
        out["generation"] = {k: setup.generation[k] for k in ("max_new_tokens", "temperature", "image_pad")}
    if model.samples():
        out["sampling_seed"] = seed
    return scrub(out)


def diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: {va!r} -> {vb!r}")
    return out


def recorded_protocol(folder: TaskFolder, manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """The protocol of the folder's predictions: the record kept with them, else (a folder written
    before that record existed) the manifest's; None when neither says."""
    kept = read_json(folder.predictions_protocol)
    if kept and isinstance(kept.get("protocol"), dict):
        return kept["protocol"]
    return (manifest or {}).get("protocol")


class RunManifest:
    """``manifest.json`` of one task folder, held in memory and saved after every stage."""

    def __init__(self, folder: TaskFolder, protocol: dict[str, Any]) -> None:
        self.folder = folder
        self.protocol = protocol
        self.data: dict[str, Any] = {}

    def open(self, *, overwrite: bool, **fields_: Any) -> None:
        """Load the folder's manifest (refusing predictions made under another protocol unless
        ``overwrite``, which deletes them), record ``fields_`` and the environment, and save."""
        old = read_json(self.folder.manifest)
        recorded = recorded_protocol(self.folder, old)
        if recorded is not None and recorded != self.protocol:
            if not overwrite and (self.folder.predictions.exists() or self.folder.shard_files()):
                changes = "; ".join(diff(recorded, self.protocol)[:8])
                raise ConfigError(
                    f"{self.folder.path} holds predictions made under a different protocol ({changes}). "
                    "Use another run.name, or run.overwrite=true to discard them."
                )
            if overwrite:
                for p in [self.folder.predictions, self.folder.judgments, self.folder.metrics,
                          *self.folder.shard_files()]:
                    p.unlink(missing_ok=True)
                old = None
        if recorded != self.protocol or not self.folder.predictions_protocol.exists():
            # before the first batch: the predictions' own record (a folder without any is adopted)
            write_json(self.folder.predictions_protocol, {"protocol": self.protocol, "recorded": now_iso()})
        self.data = old or {"created": now_iso(), "stages": {}}
        self.data.update(evalkit_manifest_version=1, protocol=self.protocol,
                         protocol_id=stable_hash(self.protocol)[:16], **fields_, git=git_info(),
                         versions=package_versions(), environment=environment(), updated=now_iso())
        self.save()

    def save(self) -> None:
        """Write the manifest; ranks of a sharded run share it, so stage entries another process
        wrote meanwhile are kept (read-merge-write under a file lock)."""
        with file_lock(self.folder.manifest_lock):
            on_disk = read_json(self.folder.manifest) or {}
            self.data["stages"] = {**(on_disk.get("stages") or {}), **self.data.get("stages", {})}
            self.data["updated"] = now_iso()
            write_json(self.folder.manifest, scrub(self.data))

    def record_warnings(self, warnings: RunWarnings, kinds: tuple[str, ...]) -> None:
        """The ``warnings`` block: ``kinds`` are recomputed now (absent = none now); other kinds
        keep what an earlier run of this folder recorded."""
        block = {k: v for k, v in (self.data.get("warnings") or {}).items() if k not in kinds}
        block.update(warnings.as_dict())
        self.data["warnings"] = block

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def setdefault(self, key: str, default: Any) -> Any:
        return self.data.setdefault(key, default)
