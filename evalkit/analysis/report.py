"""Static HTML report of one task folder (``<output_dir>/<run>/<task>/report.html``).

One row per sample: thumbnails of the frames the model actually saw -- kept from prediction in the
folder's thumbnail file (:mod:`evalkit.store.thumbnails`), else ``frame_indices`` of ``media[0]``
decoded again with :func:`evalkit.media.read_frames`, in the order the model got them (images via
:func:`evalkit.media.load_image`) -- the question, the reference answer(s), the prediction
or error, the verdict (judge yes/no + score and the judge's reply as returned when judged, else
normalized exact match).  Columns have fixed widths and every text cell is bounded (at most ~10 lines,
scrolling inside the cell), so a long prediction never makes a row thousands of pixels tall.  Two
CSS-only checkboxes filter to failures or errors.  Thumbnails are small JPEGs inlined as base64
data URIs, so the file opens from disk with no server and no external resources.

The page is rendered from ``templates/report.html.j2`` with Jinja2's autoescaping: every string
that comes from the model, the data set or the run files is escaped, in element text and
attribute values alike.

Entry point for the pipeline: :func:`write_report` (never raises for a bad media file: that row
shows "no thumbnail: <reason>").
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

from evalkit.analysis.html import render
from evalkit.analysis.runs import TaskRun, exact_correct, judge_outcome
from evalkit.media.thumbnails import MAX_STRIP_FRAMES, image_thumb, video_strip  # noqa: F401 (re-exported)
from evalkit.store import TaskFolder, read_thumbnails, thumbnail_key, write_text

log = logging.getLogger("evalkit.report")

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.2em;color:#222}
h1{font-size:1.3em;margin:0 0 .4em}
.summary{font-size:13px;margin-bottom:.8em}
.summary td,.summary th{border:none;padding:1px 8px 1px 0}
table.samples{border-collapse:collapse;font-size:13px;width:100%;table-layout:fixed;min-width:1000px}
table.samples th,table.samples td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}
table.samples th{background:#f3f3f3;position:sticky;top:0;z-index:1}
col.c-n{width:2.6em}col.c-id{width:7em}col.c-thumb{width:300px}col.c-q{width:20%}col.c-ref{width:11%}
col.c-pred{width:24%}col.c-v{width:18%}col.c-score{width:4.4em}
tr.s-ok td.v{background:#e8f6e8}
tr.s-fail td.v{background:#fde8e8}
tr.s-error td.v{background:#fff0cc}
div.cell{max-height:10em;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere}
td.id{overflow-wrap:anywhere}
div.reply{margin-top:.3em;padding-top:.2em;border-top:1px dashed #bbb;color:#444;font-size:12px;max-height:6em;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere}
td.thumb img{display:block;max-width:100%;height:auto;image-rendering:auto}
.nothumb{color:#888;font-size:12px}
.err{color:#a15c00;white-space:pre-wrap}
.flt{margin-left:1em}
label{margin-right:1.2em;font-size:14px}
#only-fail:checked ~ table.samples tbody tr.s-ok{display:none}
#only-err:checked ~ table.samples tbody tr:not(.s-error){display:none}
details summary{cursor:pointer;color:#555;font-size:12px}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:.2em 0;max-height:12em;overflow:auto}
"""


# ---- thumbnails ---------------------------------------------------------------------------------

def video_thumbnail(path: str, indices: list[int], height: int = 64, frame_order: str = "original",
                    seed: int = 0) -> tuple[str, str]:
    """(data URI, description) of the frames at ``indices`` of ``path`` in the order the model saw
    them, decoded again (for run folders without a thumbnail file)."""
    from evalkit.media import frame_order_permutation, read_frames

    frames = read_frames(path, indices, threads=False)
    order = list(indices)
    if frame_order != "original":
        perm = frame_order_permutation(len(frames), frame_order, seed)
        frames, order = frames[perm], [indices[i] for i in perm]
    return video_strip(frames, order, frame_order, height)


def image_thumbnail(path: str, height: int = 64) -> tuple[str, str]:
    from evalkit.media import load_image

    return image_thumb(load_image(path), path, height)


def _thumbnail(rec: dict[str, Any], height: int, frame_order: str, seed: int) -> tuple[Optional[str], str]:
    """(data URI or None, text), decoding the media again: never raises."""
    media = rec.get("media") or []
    if not media:
        return None, "no thumbnail: the sample has no media"
    path = str(media[0])
    try:
        if rec.get("frame_indices") is not None:
            return video_thumbnail(path, [int(i) for i in rec["frame_indices"]], height, frame_order, seed)
        if "error" in rec:
            return None, "no thumbnail: the model saw no frames (media could not be read)"
        return image_thumbnail(path, height)
    except Exception as e:  # MediaError (missing/corrupt file) or anything a decoder throws
        from evalkit.media import MediaError

        reason = f"{e.reason}: {e.detail}" if isinstance(e, MediaError) else f"{type(e).__name__}: {e}"
        return None, f"no thumbnail: {reason}"


# ---- rows ---------------------------------------------------------------------------------------

def _answers(rec: dict[str, Any]) -> list[str]:
    from evalkit.metrics.text_match import record_answers

    return record_answers(rec)


def _verdict(rec: dict[str, Any], tr: TaskRun) -> dict[str, Any]:
    """Row class, verdict, score text and title of one record (values are escaped by the template)."""
    out: dict[str, Any] = {"judge_said": None, "judge_status": None, "judge_reply": None, "verdict": "", "score": "",
                          "title": ""}
    if "pred" not in rec:
        return {**out, "cls": "s-error", "verdict": "error"}
    if tr.judged:
        line = tr.judgments.get(str(rec["id"]))
        if line is None:
            return {**out, "cls": "s-fail", "verdict": "not judged", "title": "no judgment line for this sample"}
        ok, score = judge_outcome(line, tr.aggregation or "strict")
        verdict = line.get("verdict") if isinstance(line.get("verdict"), dict) else {}
        status = line.get("status")
        score_txt = str(verdict.get("score", "")) if verdict.get("score") is not None else f"{score:g}"
        return {**out, "cls": "s-ok" if ok else "s-fail", "judge_said": verdict.get("pred", verdict.get("pred_raw", "?")),
                "judge_status": status if status != "ok" else None, "score": score_txt,
                "judge_reply": str(line.get("raw") or ""), "title": "the judge's reply, as returned"}
    ok = exact_correct(rec)
    return {**out, "cls": "s-ok" if ok else "s-fail", "verdict": "exact match: yes" if ok else "exact match: no"}


def record_thumbnails(tr: TaskRun, records: list[dict[str, Any]], height: int = 64, *,
                      workers: Optional[int] = None, use_stored: bool = True) -> list[tuple[Optional[str], str]]:
    """(data URI or None, text) per record of the task run ``tr``, in order: from the folder's thumbnail
    file (frames kept from prediction) where it has them, else decoded again (never raises)."""
    media_proto = tr.media_protocol()
    frame_order = str(media_proto.get("frame_order") or "original")
    seed = int(media_proto.get("seed") or 0)
    cache: dict[tuple, tuple[Optional[str], str]] = {}

    def key(rec: dict[str, Any]) -> tuple:
        return (tuple(rec.get("media") or ()), tuple(rec.get("frame_indices") or ()), "error" in rec)

    unique: dict[tuple, dict[str, Any]] = {}
    for r in records:
        unique.setdefault(key(r), r)
    # thumbnails kept from prediction (thumbnails.jsonl); only the others are decoded again
    stored = read_thumbnails(tr.folder, height) if use_stored else {}
    decode: dict[tuple, dict[str, Any]] = {}
    for k, r in unique.items():
        found = stored.get(thumbnail_key((r.get("media") or [None])[0], r.get("frame_indices")))
        if found is not None and not ("error" in r and r.get("frame_indices") is None):  # media it saw
            cache[k] = found
        else:
            decode[k] = r
    n_workers = workers or max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="thumb") as pool:
        futures = {k: pool.submit(_thumbnail, r, height, frame_order, seed) for k, r in decode.items()}
        for k, f in futures.items():
            cache[k] = f.result()
    return [cache[key(r)] for r in records]


def write_report(task_dir: Path, out: Optional[Path] = None, *, max_thumbnails: int = 500, thumb_height: int = 64,
                 max_rows: Optional[int] = None, workers: Optional[int] = None, use_stored: bool = True) -> Path:
    """Write ``report.html`` for one ``<output_dir>/<run>/<task>`` folder and return its path.

    ``max_thumbnails``: only the first N samples (file order) get thumbnails, so huge runs stay
    openable (each strip of 8 frames is a few kB); ``max_rows`` caps the listed samples.
    Thumbnails come from the folder's thumbnail file (made from the frames decoded for prediction);
    media without one there (an older run folder, ``use_stored=False``) are decoded again.
    """
    task_dir = Path(task_dir)
    tr = TaskRun.open(task_dir)
    records = list(tr.records.values())
    total = len(records)
    if max_rows is not None:
        records = records[: max(0, max_rows)]
    thumbs = record_thumbnails(tr, records[: max(0, max_thumbnails)], thumb_height, workers=workers,
                               use_stored=use_stored)
    rows = []
    for i, rec in enumerate(records):
        if i < len(thumbs):
            uri, desc = thumbs[i]
        else:
            uri, desc = None, f"no thumbnail: beyond max_thumbnails={max_thumbnails}"
        meta = rec.get("metadata") or {}
        rows.append({"id": rec.get("id"), "thumb_uri": uri, "thumb_text": desc, "question": rec.get("question"),
                     "type": meta.get("type"), "prompt": rec.get("prompt"), "refs": " | ".join(_answers(rec)),
                     "pred": rec.get("pred"), "error": None if "pred" in rec else rec.get("error"),
                     **_verdict(rec, tr)})
    page = render("report.html.j2", run=tr.run, task=tr.task, style=_STYLE,
                  summary=_summary(tr, total, len(records), max_thumbnails), rows=rows,
                  n_ok=sum(r["cls"] == "s-ok" for r in rows), n_fail=sum(r["cls"] == "s-fail" for r in rows),
                  n_err=sum(r["cls"] == "s-error" for r in rows))
    out = Path(out) if out is not None else TaskFolder(task_dir).report
    write_text(out, page)
    return out


def _summary(tr: TaskRun, total: int, listed: int, max_thumbnails: int) -> list[tuple[str, Any]]:
    """(label, value) rows of the page's summary table."""
    m = tr.metrics or {}
    rows = [("run", tr.run), ("task", tr.task), ("model", tr.model), ("scored", m.get("scored")),
            ("scoring", tr.scoring_label())]
    for k, v in (m.get("headline") or {}).items():
        if isinstance(v, (int, float)):
            shown = f"{v:.2f}" if "score" in k else f"{100 * v:.1f}%"
            rows.append((k, shown))
    c = m.get("counts") or {}
    if c:
        rows.append(("counts", ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in c.items())))
    media = tr.media_protocol()
    if media:
        rows.append(("frames", ", ".join(f"{k}={v}" for k, v in media.items())))
    if tr.prompt_template():
        ap = tr.answer_prompt()
        label = f" ({ap['label']}; sha256 {str(ap.get('hash'))[:12]})" if ap.get("label") else ""
        rows.append(("prompt template", f"{tr.prompt_template()}{label}"))
    jp = tr.judge_prompt()
    if jp:
        rows.append(("judge prompt", f"{jp.get('label') or jp.get('source')} ({jp.get('protocol')}, "
                                     f"sha256 {str(jp.get('hash'))[:12]})"))
    rows.append(("samples", f"{total} in predictions.jsonl, {listed} listed, thumbnails for the first "
                            f"{min(listed, max_thumbnails)}"))
    return [(k, "" if v is None else v) for k, v in rows]
