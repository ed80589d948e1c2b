"""predictions.jsonl lines <-> PredictionRecord: one mapping, the on-disk format unchanged."""

import json

from evalkit.store import PredictionRecord, PredictionStore, is_error


def test_lines_round_trip_byte_for_byte_old_and_new(tmp_path):
    lines = [
        {"id": "a", "question": "q", "answer": "x", "answers": ["x", "y"], "pred": "x", "media": ["v.mp4"],
         "frame_indices": [0, 3], "prompt": "USER: q ASSISTANT:", "metadata": {"type": "color"}},
        {"id": "b", "question": "q", "answer": "x", "error": "v.mp4: missing"},
        {"id": "c", "question": "q", "answer": "x", "pred": "", "written_by_a_later_version": 1},
    ]
    for line in lines:
        rec = PredictionRecord.from_line(line)
        assert json.dumps(rec.to_line()) == json.dumps(line)  # same keys, same order
        assert rec.failed == is_error(line)
    store = PredictionStore(tmp_path / "p.jsonl")
    store.append([PredictionRecord.from_line(line) for line in lines])
    assert [json.loads(t) for t in (tmp_path / "p.jsonl").read_text().splitlines()] == lines
    assert store.drop_errors() == 1 and PredictionStore(tmp_path / "p.jsonl").done_ids == {"a", "c"}


def test_judgment_lines_round_trip_and_older_lines_still_read():
    from evalkit.store import JudgmentLine

    line = {"id": "1", "question": "q", "answer": "a", "pred": "p", "status": "ok",
            "verdict": {"pred": "yes", "score": 4}, "raw": "{}", "replies": ["{}"], "error": None,
            "protocol": "video_chatgpt_qa", "prompt_version": "v1", "prompt_hash": "h", "key": "k",
            "requested_model": "m", "returned_model": "m-0125", "latency_s": 0.1,
            "tokens": {"prompt": 3, "completion": 2}, "attempts": 1, "parse_attempts": 1, "cached": False,
            "judged_at": "2026-01-01T00:00:00Z", "extra": {"category": "x"}}
    typed = JudgmentLine.from_line(line)
    assert json.dumps(typed.to_line()) == json.dumps(line) and typed.final
    old = {k: v for k, v in line.items() if k not in ("key", "returned_model", "cached")}
    old_typed = JudgmentLine.from_line({**old, "status": "request_error"})
    assert old_typed.key is None and not old_typed.final and old_typed.cached is False
