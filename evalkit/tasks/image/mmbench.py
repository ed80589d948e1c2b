"""MMBench (English, dev/test) with LLaVA-1.5's prompt and circular evaluation.

Official layout (what LLaVA-1.5 / Video-LLaVA read)::

    <data_root>/mmbench_dev_20230712.tsv   (or the test tsv)
        index  question  hint  A  B  C  D  answer  category  l2-category  image  [source comment split]

``image`` is a base64-encoded image; a short all-digit value is a reference to the row with that
``index`` (used by newer tsv files to avoid repeating an image).  The test tsv has no
``answer`` column.  Images are decoded once into ``image_cache_dir`` (default
``~/.cache/evalkit/images/<task>/<tsv sha256[:16]>``, or ``$EVALKIT_CACHE/images/...``).

Prompt (LLaVA's ``model_vqa_mmbench.py`` with ``--single-pred-prompt``)::

    {hint}\\n{question}\\nA. {A}\\nB. {B}...\\n<suffix>        (no hint line when hint is empty)

with the named instruction ``letter_direct`` = "\\nAnswer with the option's letter from the
given choices directly." (``letter_direct_cn`` for MMBench-CN, ``none`` for no instruction).

Circular evaluation (see :mod:`evalkit.metrics.mmbench`), option ``circular``:

- ``tsv``: the rows are scored as they are in the file, grouped by ``index % 1_000_000``; the
  official 20230712 tsv files already hold the rotated copies (index + k·1,000,000);
- ``generate``: the file holds only the originals; the rotated copies are made here (ids
  ``index + k·1,000,000``, the same convention);
- ``auto`` (default): ``tsv`` when any index is >= 1,000,000, else ``generate``;
- ``off``: originals only, single pass (circular = vanilla accuracy).

Scoring: choice extraction (letter, then option text), then — only with
``judge_match: true`` and a judge configured — the ``mmbench_choice`` judge protocol for the
replies that still match no option.  The dev split is scored locally; for every split a
submission file for the evaluation server is written by :meth:`MMBenchTask.write_artifacts`:
``submission_<split>.tsv`` with the columns LLaVA's ``convert_mmbench_for_submission.py``
keeps (index, question, A–D, prediction, answer when present; prediction = the raw reply),
plus ``.xlsx`` (the format that script uploads) when ``openpyxl`` is installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import DataError
from evalkit.metrics.mmbench import (CIRCULAR_BASE, circular_scores, extract_choice, group_of, is_missing,
                                     options_from_row, rotate_options, rotation_of)
from evalkit.samples import PaperAnswer, Sample
from evalkit.tasks.base import TASKS, DataReport, sha256_file
from evalkit.tasks.image.base import ImageTask, ImageTaskConfig
from evalkit.tasks.text_files import read_text

# ---- MMBench ------------------------------------------------------------------------------------

DEFAULT_HF_FIELDS = {
    "index": "index", "question": "question", "hint": "hint", "A": "A", "B": "B", "C": "C", "D": "D",
    "answer": "answer", "category": "category", "l2_category": "L2-category", "image": "image",
}
CIRCULAR_MODES = ("auto", "tsv", "generate", "off")
SUBMISSION_COLUMNS = ("index", "question", "A", "B", "C", "D", "prediction", "answer")


@dataclass
class MMBenchTaskConfig(ImageTaskConfig):
    adapter: str = "mmbench"
    name: str = "mmbench"
    split: str = "dev"  # dev: scored here; test: no answers, submission file only
    expected_size: Optional[int] = 4377  # rows of mmbench_dev_20230712.tsv (1164 questions + rotated copies)
    tsv_file: str = "mmbench_dev_20230712.tsv"
    circular: str = "auto"  # auto | tsv | generate | off
    instruction: str = "letter_direct"
    # Ask the judge (protocol mmbench_choice) about replies that name no option; needs judge=<...>.
    judge_match: bool = False
    image_dir: str = ""  # image values that are file names are relative to data_root
    hf_split: str = "dev"
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HF_FIELDS))


def build_mc_prompt(question: str, hint: Optional[str], options: dict[str, str], suffix: str) -> str:
    """LLaVA's MMBench prompt text: optional hint line, question, "X. option" lines, suffix."""
    text = question if is_missing(hint) else f"{hint}\n{question}"
    for letter, opt in options.items():
        text += f"\n{letter}. {opt}"
    return text + suffix


@TASKS.register("mmbench")
class MMBenchTask(ImageTask):
    """MMBench with circular evaluation, choice extraction and a server submission file."""

    config_cls = MMBenchTaskConfig
    hf_required = ("index", "question", "A", "B", "image")
    headline_metrics = ("circular_accuracy", "vanilla_accuracy")
    judged = False
    judge_protocol = "mmbench_choice"
    paper_answer = PaperAnswer(
        "vicuna_v1", 1024, 0.0, True,
        "Video-LLaVA scripts/v1_5/eval/eval_image_mmbench.sh -> videollava/eval/model_vqa_mmbench.py: "
        "--conv-mode vicuna_v1 --temperature 0, max_new_tokens=1024, process_images (pad to square)")
    cfg: MMBenchTaskConfig

    def __init__(self, cfg: MMBenchTaskConfig) -> None:
        super().__init__(cfg)
        self.require_choice("circular", CIRCULAR_MODES)
        # Judged only when asked to (the judge then sees the unmatched replies only).
        self.judged = bool(cfg.judge_match)
        self._sha: Optional[str] = None
        self._file_rows: Optional[list[dict[str, Any]]] = None
        self._circular_used: Optional[str] = None

    # ---- reading -----------------------------------------------------------------------------
    def _tsv_path(self) -> Path:
        return self.path(self.cfg.tsv_file)

    def cache_key(self) -> str:
        """Images are cached per tsv content (official) or per hf source."""
        if self._sha is None:
            self._sha = sha256_file(self._tsv_path()) if self.cfg.form == "official" else super().cache_key()
        return self._sha

    def source_files(self) -> list[Path]:
        return [self._tsv_path()]

    def _official_rows(self) -> list[dict[str, Any]]:
        import io

        import pandas as pd

        path = self._tsv_path()
        text = read_text(path, "MMBench tsv")  # a DataError naming file and byte for non-UTF-8 bytes
        try:
            df = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=True)
        except Exception as e:  # noqa: BLE001 - parser errors: one readable line naming the file
            raise DataError(f"{path}: cannot read as tsv: {type(e).__name__}: {e}") from None
        missing = [c for c in ("index", "question", "A", "B", "image") if c not in df.columns]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; columns: {', '.join(df.columns)}")
        dups = sorted(set(df["index"][df["index"].duplicated()].astype(str)))
        if dups:
            raise DataError(f"{path}: index {', '.join(dups[:5])} appears more than once")
        l2_key = "l2-category" if "l2-category" in df.columns else "L2-category"
        return self._normalise([{**r, "l2_category": r.get(l2_key)} for r in df.to_dict(orient="records")],
                               str(path))

    def _hf_rows(self) -> list[dict[str, Any]]:
        # image values are resolved per row (after an index reference is followed), not by the base
        return self._normalise(self.load_hf_rows(image_field="image"), self.hf_source())

    def _normalise(self, rows: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
        out = []
        for i, r in enumerate(rows):
            try:
                idx = int(float(str(r["index"])))
            except (TypeError, ValueError):
                raise DataError(f"{where}: row {i}: index {r.get('index')!r} is not an integer") from None
            options = options_from_row(r)
            if len(options) < 2:
                raise DataError(f"{where}: row {i} (index {idx}) has fewer than two options")
            answer = None if is_missing(r.get("answer")) else str(r["answer"]).strip()
            if answer is not None and answer not in options:
                raise DataError(f"{where}: row {i} (index {idx}): answer {answer!r} names no option")
            out.append({
                "index": idx, "question": str(r["question"]),
                "hint": None if is_missing(r.get("hint")) else str(r["hint"]),
                "options": options, "answer": answer,
                "category": None if is_missing(r.get("category")) else str(r["category"]),
                "l2_category": None if is_missing(r.get("l2_category")) else str(r["l2_category"]),
                "image": r.get("image"),
            })
        return out

    def _circular_mode(self, rows: list[dict[str, Any]]) -> str:
        mode = self.cfg.circular
        has_copies = any(r["index"] >= CIRCULAR_BASE for r in rows)
        if mode == "auto":
            return "tsv" if has_copies else "generate"
        if mode == "generate" and has_copies:
            raise DataError(f"task {self.name}: circular=generate but the file already holds rotated copies "
                            f"(index >= {CIRCULAR_BASE}); use circular=tsv (or auto)")
        return mode

    def load_samples(self) -> list[Sample]:
        rows = self.read_rows()
        self._file_rows = rows
        mode = self._circular_mode(rows)
        self._circular_used = mode
        suffix = self.instruction_text
        by_index = {r["index"]: r for r in rows}

        def image_path(r: dict[str, Any]) -> str:
            value = r["image"]
            if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 64:
                ref = by_index.get(int(value.strip()))
                if ref is None or ref is r:  # this row's error (and its copies'), not the task's
                    return self.unusable_media(str(r["index"]), f"task {self.name}: index {r['index']}: "
                                               f"unusable_image: image refers to missing row {value}")
                value = ref["image"]
                r = ref
            return self.image_from(value, str(r["index"]), f"task {self.name}: index {r['index']}")

        samples = []
        for r in rows:
            if mode == "off" and r["index"] >= CIRCULAR_BASE:
                continue
            img = image_path(r)
            variants = [(0, r["options"], r["answer"])]
            if mode == "generate":
                variants += [(k, *rotate_options(r["options"], r["answer"], k)) for k in range(1, len(r["options"]))]
            for k, opts, ans in variants:
                idx = r["index"] + k * CIRCULAR_BASE
                meta = {"index": idx, "group": group_of(idx), "rotation": rotation_of(idx),
                        "options": opts, "answer": ans, "category": r["category"],
                        "l2_category": r["l2_category"], "from_file": k == 0}
                samples.append(Sample(
                    id=str(idx), task=self.name, question=r["question"], answers=(ans,) if ans else (),
                    modality="image", media=(img,), prompt=build_mc_prompt(r["question"], r["hint"], opts, suffix),
                    metadata=meta,
                ))
        return samples

    def check(self, samples: list[Sample]) -> DataReport:
        report = super().check(samples)
        if self._circular_used == "tsv" and not any(int(s.id) >= CIRCULAR_BASE for s in samples):
            report.problems.append("circular=tsv but the file holds no rotated copies: circular accuracy "
                                   "equals single-pass accuracy (use circular=generate)")
        if not any(s.answers for s in samples):
            report.problems.append("no answer column: predictions only (submit the submission file)")
        return report

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        out.update({
            "prompt_format": "{hint}\\n{question}\\nA. {A}\\nB. {B}...{suffix}",
            "circular": self.cfg.circular, "circular_grouping": "index % 1000000",
            "extraction": "letter_then_option_text", "judge_match": self.cfg.judge_match,
        })
        return out

    # ---- scoring -----------------------------------------------------------------------------
    def _unmatched(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for r in records:
            if "pred" not in r:
                continue
            opts = (r.get("metadata") or {}).get("options") or {}
            if extract_choice(r["pred"], opts)[0] is None:
                out.append(r)
        return out

    def judge_items(self, records: list[dict[str, Any]]) -> list[Any]:
        from evalkit.judge.config import JudgeItem

        # The reference answer is never shown to the matcher: answer is left empty.
        return [JudgeItem(id=r["id"], question=r["question"], answer="", pred=r["pred"],
                          extra={"options": (r.get("metadata") or {}).get("options") or {}})
                for r in self._unmatched(records)]

    def score(self, records: list[dict[str, Any]], judgments: Optional[list[dict[str, Any]]] = None,
              aggregation: str = "strict") -> dict[str, Any]:
        verdicts: dict[str, str] = {}
        for j in judgments or []:
            if j.get("status") == "ok" and isinstance(j.get("verdict"), dict):
                verdicts[str(j["id"])] = str(j["verdict"].get("choice"))
        how_counts = {"letter": 0, "text": 0, "judge": 0, "none": 0, "error": 0}
        rows = []
        for r in records:
            meta = r.get("metadata") or {}
            opts = meta.get("options") or {}
            gt = meta.get("answer")
            letter, how = (None, None)
            if "pred" in r:
                letter, how = extract_choice(r["pred"], opts)
                if letter is None and verdicts.get(str(r["id"])) in opts:
                    letter, how = verdicts[str(r["id"])], "judge"
            how_counts[how or ("none" if "pred" in r else "error")] += 1
            rows.append({"index": int(meta.get("index", r["id"])), "correct": None if not gt else letter == gt,
                         "category": meta.get("category"), "l2_category": meta.get("l2_category"),
                         "n_options": len(opts)})
        metrics = circular_scores(rows)
        metrics["accuracy"] = metrics["circular_accuracy"]
        metrics["extraction"] = how_counts
        metrics["circular_mode"] = self._circular_used or self.cfg.circular
        if judgments is not None:
            from evalkit.judge.aggregate import aggregate

            metrics["judge"] = aggregate(judgments, mode=aggregation) if judgments else {"n_judged": 0}
        elif self.cfg.judge_match:
            metrics["judge_note"] = "judge_match is on but no judge is configured: unmatched replies count wrong"
        return metrics

    def write_artifacts(self, records: list[dict[str, Any]], task_dir: Path) -> dict[str, str]:
        """The evaluation-server submission: one row per row of the file, raw replies."""
        import pandas as pd

        rows = self._file_rows
        if rows is None:
            self.load_samples()
            rows = self._file_rows or []
        preds = {str(r["id"]): r.get("pred", "") for r in records}
        has_answer = any(r["answer"] for r in rows)
        letters = ["A", "B", "C", "D"] + (["E"] if any("E" in r["options"] for r in rows) else [])
        table = []
        for r in rows:
            if self._circular_used == "off" and r["index"] >= CIRCULAR_BASE:
                continue
            line: dict[str, Any] = {"index": r["index"], "question": r["question"]}
            for x in letters:
                line[x] = r["options"].get(x, "")
            line["prediction"] = preds.get(str(r["index"]), "") or ""
            if has_answer:
                line["answer"] = r["answer"] or ""
            table.append(line)
        cols = ["index", "question", *letters, "prediction"] + (["answer"] if has_answer else [])
        from evalkit.store.files import write_bytes, write_text

        # object columns: pandas' default (Arrow) strings cannot hold a lone surrogate a reply may carry
        df = pd.DataFrame(table, columns=cols, dtype=object)
        stem = f"submission_{self.cfg.split}"
        write_text(task_dir / f"{stem}.tsv", df.to_csv(sep="\t", index=False))  # any text, atomically
        try:
            import openpyxl  # noqa: F401
        except ImportError:
            return {"mmbench submission (tsv; install openpyxl to also get the .xlsx the upload form takes)":
                    str(task_dir / f"{stem}.tsv")}
        # a spreadsheet cell cannot hold control characters or lone surrogates: those are dropped there
        # (the .tsv keeps the replies as they are)
        import io

        buf = io.BytesIO()
        df.map(_xlsx_cell).to_excel(buf, index=False, engine="openpyxl")
        write_bytes(task_dir / f"{stem}.xlsx", buf.getvalue())  # atomically, like every output file
        return {"mmbench submission (tsv)": str(task_dir / f"{stem}.tsv"),
                "mmbench submission (xlsx)": str(task_dir / f"{stem}.xlsx")}


def _xlsx_cell(value: Any) -> Any:
    """A value an .xlsx cell can hold: strings without control characters or lone surrogates."""
    if not isinstance(value, str):
        return value
    import re

    value = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", value)
    return value.encode("utf-8", "replace").decode("utf-8")
