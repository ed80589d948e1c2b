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
