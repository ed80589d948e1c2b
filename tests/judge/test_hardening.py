"""The judge against a corrupt cache, a runaway reply and a silent endpoint (in process, loopback)."""

from __future__ import annotations

import logging

from evalkit.judge import JudgeCache, judge_items
from tests.judge.test_engine import cfg_for, make_items
from tests.judge_server import judge_server  # noqa: F401


def test_a_corrupt_cache_is_set_aside_once_and_rebuilt_with_no_request(judge_server, tmp_path, caplog):
    items = make_items(6)
    cache = tmp_path / "cache.sqlite"  # an output folder's layout: <out>/<cache>, <out>/<run>/<task>/judgments
    judge_items(items, cfg_for(judge_server.base_url), judgments_path=tmp_path / "r" / "a" / "judgments.jsonl",
                cache_path=cache, progress=False)
    for bad in (b"this is not a database at all" * 100, None):
        if bad is None:  # a cache whose pages are torn (header intact)
            data = bytearray(cache.read_bytes())
            data[4096:] = b"\x00\x13" * ((len(data) - 4096) // 2)
            cache.write_bytes(bytes(data))
        else:
            cache.write_bytes(bad)
        judge_server.reset()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="evalkit.judge"):
            s = judge_items(items, cfg_for(judge_server.base_url), judgments_path=tmp_path / "r" / "b" / "j.jsonl",
                            cache_path=cache, progress=False)
        said = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
        assert len(said) == 1 and "set aside as cache.sqlite.corrupt-" in said[0] and "6 verdicts" in said[0]
        assert judge_server.n_requests == 0 and s.n_cache_hits == 6  # rebuilt from r/a/judgments.jsonl
        (tmp_path / "r" / "b" / "j.jsonl").unlink()
    assert len(list(cache.parent.glob("cache.sqlite.corrupt-*"))) >= 1
    with JudgeCache(cache) as c:
        assert len(c) == 6


def test_a_runaway_reply_is_unusable_stored_truncated_with_its_size(judge_server, tmp_path):
    from evalkit.judge import JudgeConfig  # noqa: F401 - the field is part of the config schema
    from evalkit.metrics import video_chatgpt
    from evalkit.store import read_judgments
    from tests.judge_server import Fault

    verdict = "{'pred': 'yes', 'score': 4}"
    judge_server.enqueue(Fault("reply", content=verdict + " " * 5_000_000), Fault("reply", content="é" * 3000))
    items = make_items(3)
    s = judge_items(items, cfg_for(judge_server.base_url, concurrency=1), judgments_path=tmp_path / "j.jsonl",
                    cache_path=tmp_path / "c.sqlite", progress=False)
    lines = {ln["id"]: ln for ln in read_judgments(tmp_path / "j.jsonl")}
    runaway, wide, fine = lines["q0"], lines["q1"], lines["q2"]
    assert runaway["status"] == wide["status"] == "reply_too_long" and fine["status"] == "ok"
    assert runaway["reply_bytes"] == len(verdict) + 5_000_000 and len(runaway["raw"].encode()) == 4096
    assert wide["reply_bytes"] == 6000 and wide["raw"] == "é" * 2048  # cut at a character boundary
    assert runaway["parse_attempts"] == 1 and judge_server.n_requests == 3  # never re-asked
    assert "reply_bytes" not in fine
    assert (tmp_path / "j.jsonl").stat().st_size < 40_000  # not 10 MB
    assert s.status_counts == {"reply_too_long": 2, "ok": 1}
    for mode in (video_chatgpt.strict, video_chatgpt.paper):  # unusable under both aggregations
        assert mode(list(lines.values()))["n_unusable"] == 2
    judge_server.reset()
    judge_server.enqueue(Fault("reply", content="x" * 200))
    judge_items(make_items(1, prefix="big"), cfg_for(judge_server.base_url, max_reply_bytes=100),
                judgments_path=tmp_path / "k.jsonl", cache_path=tmp_path / "c2.sqlite", progress=False)
    assert read_judgments(tmp_path / "k.jsonl")[0]["reply_bytes"] == 200  # the configured limit


def test_a_silent_judge_is_logged_per_retry_and_given_up_at_the_item_deadline(tmp_path, caplog):
    import time

    import pytest

    from evalkit.judge import JudgeUnavailableError
    from tests.judge_server import FakeJudgeServer

    with FakeJudgeServer(latency_s=30) as silent, caplog.at_level(logging.WARNING, logger="evalkit.chat_client"):
        url = silent.base_url
        cfg = cfg_for(url, concurrency=1, max_retries=8, timeout_s=0.4, item_deadline_s=1.5,
                      backoff_base_s=0.05, backoff_max_s=0.1)
        t0 = time.monotonic()
        with pytest.raises(JudgeUnavailableError, match="no usable answer before the deadline"):
            judge_items(make_items(2), cfg, judgments_path=tmp_path / "j.jsonl", cache_path=tmp_path / "c.sqlite",
                        progress=False)
        took = time.monotonic() - t0
    assert took < 1.5 + 1.0  # not 9 timeouts of 0.4 s plus backoff
    said = [r.getMessage() for r in caplog.records]
    assert len(said) >= 2 and all(f"judge endpoint {url}: no answer within 0.4 s (attempt " in m
                                  for m in said)
    assert "attempt 1 of 9" in said[0] and "attempt 2 of 9" in said[1] and "s left before giving up" in said[0]


def test_a_full_disk_under_the_cache_is_one_line_and_dry_run_reads_a_corrupt_cache_as_empty(judge_server, tmp_path,
                                                                                          caplog):
    import pytest

    from evalkit.errors import DiskFullError
    from evalkit.judge import dry_run
    from tests._mounts import tmpfs

    with tmpfs(tmp_path / "disk", "64k") as disk:
        full = pytest.raises(DiskFullError, match=f"no space left in {disk}: c.sqlite")
        with JudgeCache(disk / "c.sqlite") as c, full:
            for i in range(10_000):
                c.put(f"k{i}", {"raw": "x" * 1000})
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not sqlite" * 100)
    with caplog.at_level(logging.WARNING, logger="evalkit.judge"):
        report = dry_run(make_items(3), cfg_for(judge_server.base_url), cache_path=bad)
    assert report.n_requests == 3 and judge_server.n_requests == 0 and bad.read_bytes() == b"not sqlite" * 100
    assert sum("could not be read" in r.getMessage() for r in caplog.records) == 1
