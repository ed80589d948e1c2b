"""SQLite cache (keys, concurrency) and the resumable judgments file."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
import threading
from pathlib import Path

import pytest

from evalkit.judge import JudgeCache, cache_key
from evalkit.store.judgments import JudgmentsWriter, final_lines_by_id, read_judgments


def test_cache_key_depends_on_every_field():
    base = dict(model="gpt-3.5-turbo", protocol="video_chatgpt_qa", prompt_version="v1",
                material={"question": "q", "answer": "a", "pred": "p"}, prompt_hash="h1")
    k = cache_key(**base)
    assert k == cache_key(**base) and len(k) == 64
    for field, value in [("model", "gpt-4o"), ("protocol", "other"), ("prompt_version", "v2"),
                         ("prompt_hash", "h2")]:
        assert cache_key(**{**base, field: value}) != k
    for f in ("question", "answer", "pred"):
        assert cache_key(**{**base, "material": {**base["material"], f: "x"}}) != k


def test_put_get_first_writer_wins(tmp_path):
    with JudgeCache(tmp_path / "c.sqlite") as c:
        assert c.get("k") is None
        assert c.put("k", {"status": "ok", "n": 1}) is True
        assert c.put("k", {"status": "ok", "n": 2}) is False
        assert c.get("k") == {"status": "ok", "n": 1}
        assert c.get_many(["k", "missing"]) == {"k": {"status": "ok", "n": 1}}
        assert len(c) == 1
    con = sqlite3.connect(tmp_path / "c.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def _writer_proc(path: str, start: int, n: int, q) -> None:
    try:
        c = JudgeCache(Path(path), busy_timeout_s=30)
        for i in range(start, start + n):
            c.put(f"key{i}", {"status": "ok", "i": i})
            c.get(f"key{i - 1}")
        c.close()
        q.put(None)
    except BaseException as exc:  # report to the parent
        q.put(repr(exc))


def test_concurrent_writer_processes(tmp_path):
    ctx = mp.get_context("fork")
    path = str(tmp_path / "c.sqlite")
    q = ctx.Queue()
    procs = [ctx.Process(target=_writer_proc, args=(path, s, 150, q)) for s in (0, 100, 200)]
    for p in procs:
        p.start()
    errors = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert errors == [None, None, None]
    with JudgeCache(Path(path)) as c:
        assert len(c) == 350
        assert c.get("key120") == {"status": "ok", "i": 120}


def test_concurrent_writer_threads_share_one_cache_object(tmp_path):
    cache = JudgeCache(tmp_path / "c.sqlite")
    errors = []

    def work(start):
        try:
            for i in range(start, start + 100):
                cache.put(f"k{i}", {"i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in (0, 50, 100, 150)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(cache) == 250
    cache.close()


def test_writer_drops_truncated_last_line(tmp_path):
    p = tmp_path / "j.jsonl"
    good = [json.dumps({"id": str(i), "status": "ok"}) for i in range(3)]
    p.write_text("\n".join(good) + "\n" + '{"id": "3", "sta')
    assert [r["id"] for r in read_judgments(p)] == ["0", "1", "2"]
    with JudgmentsWriter(p) as w:
        w.write({"id": "3", "status": "ok"})
    lines = p.read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["0", "1", "2", "3"]


def test_writer_completes_whole_last_line_without_newline(tmp_path):
    p = tmp_path / "j.jsonl"
    p.write_text('{"id": "0", "status": "ok"}')
    with JudgmentsWriter(p) as w:
        w.write({"id": "1", "status": "ok"})
    assert [json.loads(x)["id"] for x in p.read_text().splitlines()] == ["0", "1"]


def test_final_lines_and_nonfinal_statuses(tmp_path):
    p = tmp_path / "j.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in [
        {"id": "a", "status": "ok"}, {"id": "b", "status": "transport_error"},
        {"id": "c", "status": "parse_error"}, {"id": "d", "status": "score_out_of_range"},
    ]) + "\n")
    assert set(final_lines_by_id(p)) == {"a", "c", "d"}


def test_writer_lock_rejects_second_writer(tmp_path):
    p = tmp_path / "j.jsonl"
    with JudgmentsWriter(p):
        with pytest.raises(RuntimeError, match="another process"):
            JudgmentsWriter(p).open()
