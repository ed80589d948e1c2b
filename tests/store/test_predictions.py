import json

import pytest

from evalkit.errors import StoreError
from evalkit.store import PredictionStore, TaskFolder, merge_shards, repair_jsonl_tail, shard_file_name


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_append_skips_done_ids_and_persists(tmp_path):
    p = tmp_path / "predictions.jsonl"
    s = PredictionStore(p)
    assert s.append([{"id": "a", "pred": "x"}, {"id": "b", "error": "bad.mp4: missing: no such file"}]) == 2
    assert s.append([{"id": "a", "pred": "y"}]) == 0  # never written twice
    again = PredictionStore(p)
    assert again.done_ids == {"a", "b"}
    assert [r["id"] for r in _lines(p)] == ["a", "b"]


@pytest.mark.parametrize("tail", ['{"id": "c", "pr', '{"id": "c", "pred": "z"', "garbage\n"])
def test_truncated_last_line_is_cut(tmp_path, tail):
    p = tmp_path / "predictions.jsonl"
    p.write_text('{"id": "a", "pred": "x"}\n{"id": "b", "pred": "y"}\n' + tail)
    s = PredictionStore(p)
    assert s.repaired_bytes == len(tail.encode())
    assert s.done_ids == {"a", "b"}
    s.append([{"id": "c", "pred": "z"}])
    assert [r["id"] for r in _lines(p)] == ["a", "b", "c"]


def test_intact_file_untouched(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"id": "a"}\n')
    assert repair_jsonl_tail(p) == 0 and p.read_text() == '{"id": "a"}\n'


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    p = tmp_path / "predictions.jsonl"
    p.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(StoreError, match=r"predictions.jsonl:2"):
        PredictionStore(p)


def test_identical_duplicate_ids_are_collapsed_atomically(tmp_path):
    """Two writers that predicted the same thing: one record per id again, file rewritten."""
    p = tmp_path / "predictions.jsonl"
    p.write_text('{"id": "a", "pred": "x"}\n{"id": "b", "pred": "y"}\n{"id": "a", "pred": "x"}\n'
                 '{"id": "b", "pred": "y"}\n')
    s = PredictionStore(p)
    assert s.duplicates == {"identical": 2, "conflicting": 0, "set_aside": 0}
    assert [r["id"] for r in _lines(p)] == ["a", "b"]
    assert not list(tmp_path.glob(".*.tmp"))  # the rewrite left no temporary file behind
    assert PredictionStore(p).duplicates["identical"] == 0


def test_conflicting_duplicate_ids_are_named_and_repairable(tmp_path):
    p = tmp_path / "predictions.jsonl"
    p.write_text('{"id": "a", "error": "x.mp4: missing: no such file"}\n{"id": "b", "pred": "1"}\n'
                 '{"id": "a", "pred": "cat"}\n{"id": "b", "pred": "2"}\n')
    with pytest.raises(StoreError, match=r"2 sample id\(s\) appear twice.*a, b.*run.repair=true"):
        PredictionStore(p)
    assert len(_lines(p)) == 4  # refused: nothing touched
    s = PredictionStore(p, repair=True)
    assert s.duplicates == {"identical": 0, "conflicting": 2, "set_aside": 2}
    # a prediction beats an error record; otherwise the first written stays
    assert {r["id"]: r.get("pred") for r in _lines(p)} == {"a": "cat", "b": "1"}
    aside = _lines(tmp_path / "predictions.conflicts.jsonl")
    assert sorted((r["id"], r.get("pred")) for r in aside) == [("a", None), ("b", "2")]  # nothing lost
    assert PredictionStore(p).done_ids == {"a", "b"}  # and a plain open is clean again


def test_drop_errors_rewrites_atomically(tmp_path):
    p = tmp_path / "predictions.jsonl"
    s = PredictionStore(p)
    s.append([{"id": "a", "pred": "x"}, {"id": "b", "error": "e"}])
    assert s.drop_errors() == 1
    assert PredictionStore(p).done_ids == {"a"}


def test_merge_shards_joins_without_loss_or_doubling(tmp_path):
    ids = [f"s{i}" for i in range(10)]
    for rank in range(3):
        PredictionStore(tmp_path / shard_file_name(rank, 3)).append(
            [{"id": i, "pred": i.upper()} for i in ids[rank::3]])
    info = merge_shards(TaskFolder(tmp_path), expected_ids=ids)
    assert info["records"] == 10
    merged = _lines(tmp_path / "predictions.jsonl")
    assert sorted(r["id"] for r in merged) == sorted(ids)
    # merging again adds nothing
    assert merge_shards(TaskFolder(tmp_path), expected_ids=ids)["written"] == 0
    assert len(_lines(tmp_path / "predictions.jsonl")) == 10


def test_merge_refuses_missing_shard_missing_ids_and_conflicts(tmp_path):
    PredictionStore(tmp_path / shard_file_name(0, 2)).append([{"id": "a", "pred": "1"}])
    with pytest.raises(StoreError, match="1 of 2 shard files"):
        merge_shards(TaskFolder(tmp_path), expected_ids=["a", "b"])
    PredictionStore(tmp_path / shard_file_name(1, 2)).append([{"id": "a", "pred": "2"}])
    with pytest.raises(StoreError, match="differently"):
        merge_shards(TaskFolder(tmp_path), expected_ids=["a"])
    (tmp_path / shard_file_name(1, 2)).write_text('{"id": "c", "pred": "3"}\n')
    with pytest.raises(StoreError, match="missing"):
        merge_shards(TaskFolder(tmp_path), expected_ids=["a", "b", "c"])
