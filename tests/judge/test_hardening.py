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
