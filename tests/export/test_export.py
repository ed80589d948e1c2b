"""evalkit-export: run folders -> Parquet tables + dataset card that `datasets` loads, checked
against the run's own files (row counts, ids, verdicts per judge and repeat)."""

from __future__ import annotations

import json

import pytest

from evalkit.cli.export import main
from evalkit.store import TaskFolder, append_jsonl, read_jsonl
from tests.analysis.run_fixtures import correctness_samples, write_run


@pytest.fixture()
def runs(tmp_path):
    """Two run folders: ``judged`` (msvd_qa, 5 samples of which one errored; its judgments file also
    holds a second repeat and a second judge with judge_id, as judge.repeats / other judges write them)
    and ``plain`` (two tasks scored by exact match)."""
    out = tmp_path / "out"
    samples = correctness_samples([True, False, True, True], judged=True)
    samples.append({"id": "s00004", "answer": "dog", "error": "MediaError: unreadable"})
    judged = TaskFolder(write_run(out, "judged", "msvd_qa", samples, judge="gpt-3.5-turbo"))
    extra = []
    for line in list(read_jsonl(judged.judgments)):
        extra.append({**line, "repeat": 1, "verdict": {**line["verdict"], "score": 3}})
        extra.append({**line, "judge_id": "open:qwen-judge@sha256:abc", "requested_model": "qwen-judge"})
    append_jsonl(judged.judgments, extra)
    write_run(out, "plain", "msvd_qa", correctness_samples([True, False], prefix="p"))
    write_run(out, "plain", "tgif_qa", correctness_samples([True, True, False], prefix="t"))
    return out


def _load(path, cache):
    from datasets import load_dataset

    return load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(cache))


def test_export_loads_with_datasets(runs, tmp_path, capsys):
    to = tmp_path / "export"
    assert main([str(runs / "judged"), str(runs / "plain"), "--to", str(to)]) == 0
    assert "3 task result(s)" in capsys.readouterr().out
    cache = tmp_path / "hf-cache"
    preds = _load(to / "predictions" / "*.parquet", cache)
    results = [("judged", "msvd_qa"), ("plain", "msvd_qa"), ("plain", "tgif_qa")]
    want = [(run, task, str(r["id"])) for run, task in results
            for r in read_jsonl(runs / run / task / "predictions.jsonl")]
    assert [(r["run"], r["task"], r["id"]) for r in preds] == want and preds.num_rows == 10
    err = next(r for r in preds if r["id"] == "s00004")
    assert err["prediction"] is None and err["error"].startswith("MediaError")
    assert next(r for r in preds if r["id"] == "s00001")["prediction"] == "cat"

    verdicts = _load(to / "verdicts" / "*.parquet", cache)
    # 4 judged samples x (gpt-3.5 repeat 0, gpt-3.5 repeat 1, the second judge repeat 0); the errored one unjudged
    assert verdicts.num_rows == 12
    keys = sorted((r["id"], r["judge"], r["repeat"]) for r in verdicts)
    assert keys == sorted((f"s{i:05d}", j, k) for i in range(4)
                          for j, k in [("gpt-3.5-turbo", 0), ("gpt-3.5-turbo", 1), ("open:qwen-judge@sha256:abc", 0)])
    r1 = [r for r in verdicts if r["repeat"] == 1]
    assert {r["score"] for r in r1} == {3.0} and all(r["current"] for r in verdicts)
    assert [r["verdict"] for r in verdicts if r["id"] == "s00001"] == ["no"] * 3

    metrics = _load(to / "metrics" / "*.parquet", cache)
    got = {(r["run"], r["task"], r["metric"]): r["value"] for r in metrics}
    for run, task in [("judged", "msvd_qa"), ("plain", "msvd_qa"), ("plain", "tgif_qa")]:
        head = json.loads((runs / run / task / "metrics.json").read_text())["headline"]
        assert head and all(got[(run, task, k)] == pytest.approx(v) for k, v in head.items())
    assert {r["headline"] for r in metrics} == {True, False}

    # the card's YAML header makes the folder itself loadable, one config per table
    from datasets import load_dataset

    by_card = load_dataset(str(to), "verdicts", split="train", cache_dir=str(cache))
    assert by_card.num_rows == 12
    card = (to / "README.md").read_text()
    assert card.startswith("---\n") and "license: unknown" in card and "config_name: predictions" in card
    assert "judged / msvd_qa" in card and "gpt-3.5-turbo" in card and "data fingerprints" in card
    assert "test_q.json" in card and "evalkit" in card
    assert "judges in the verdicts table: `gpt-3.5-turbo`, `open:qwen-judge@sha256:abc`" in card


def test_export_refuses_clearly(runs, tmp_path, capsys):
    to = tmp_path / "export"
    assert main([str(runs / "nope"), "--to", str(to)]) == 4
    assert "nope: no such folder" in capsys.readouterr().err
    to.mkdir()
    (to / "mine.txt").write_text("x")
    assert main([str(runs / "plain"), "--to", str(to)]) == 4
    assert "is not empty" in capsys.readouterr().err
    assert main([str(runs / "plain"), "--to", str(to), "--overwrite"]) == 4  # no README.md: not an export
    assert (to / "mine.txt").exists()
    fresh = tmp_path / "again"
    assert main([str(runs / "plain" / "tgif_qa"), "--to", str(fresh)]) == 0
    assert main([str(runs / "plain"), "--to", str(fresh), "--overwrite"]) == 0
    assert not (fresh / "verdicts").exists()  # nothing judged: no verdicts table, none named in the card
    assert "config_name: verdicts" not in (fresh / "README.md").read_text()
