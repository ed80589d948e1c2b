"""End-to-end judge runs against the loopback server."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
from pathlib import Path

import pytest

from evalkit.judge import (JudgeCache, JudgeConfig, JudgeItem, JudgeUnavailableError, MissingAPIKeyError, dry_run, judge_items)
from evalkit.store import read_judgments
from tests.judge_server import FakeJudgeServer, Fault, free_port, judge_server  # noqa: F401


def make_items(n, prefix="q", marker=lambda i: ""):
    """n items; odd ones are correct (pred contains the answer)."""
    return [JudgeItem(id=f"{prefix}{i}", question=f"What is shown in clip {i}?", answer=f"object{i}",
                      pred=(f"I see object{i}" if i % 2 else f"nothing much {i}") + marker(i),
                      extra={"n": i})
            for i in range(n)]


def cfg_for(url, **kw):
    base = dict(name="test", base_url=url, concurrency=8, max_retries=3, parse_retries=2,
                timeout_s=5.0, backoff_base_s=0.001, backoff_max_s=0.01)
    base.update(kw)
    return JudgeConfig(**base)


def run(items, cfg, tmp_path, jname="judgments.jsonl", cname="cache.sqlite"):
    return judge_items(items, cfg, judgments_path=tmp_path / jname, cache_path=tmp_path / cname,
                       progress=False)


def ids_in(path):
    return [ln["id"] for ln in read_judgments(path)]


def triple(it):
    return (it.question, it.answer, it.pred)


def test_no_item_lost_none_judged_twice(judge_server, tmp_path):
    items = make_items(60, marker=lambda i: " @500x1" if i % 7 == 0 else "")
    s = run(items, cfg_for(judge_server.base_url), tmp_path)
    ids = ids_in(tmp_path / "judgments.jsonl")
    assert sorted(ids) == sorted(it.id for it in items) and len(ids) == len(set(ids))
    per_item = judge_server.requests_per_item()
    for it in items:
        assert per_item[triple(it)] == (2 if "@500x1" in it.pred else 1)
    assert s.n_items == 60 and s.n_written == 60 and s.n_requests == judge_server.n_requests
    assert s.n_retries == sum(1 for it in items if "@500x1" in it.pred)
    assert s.status_counts == {"ok": 60}
    assert s.metrics["strict"]["accuracy"] == pytest.approx(0.5)
    assert s.metrics["strict"]["score"] == pytest.approx((30 * 4 + 30 * 1) / 60)
    assert s.returned_models == ["gpt-3.5-turbo-0613"] and s.prompt_tokens > 0
    assert s.est_cost_usd and s.est_cost_usd > 0


def test_judgment_line_schema(judge_server, tmp_path):
    run(make_items(2), cfg_for(judge_server.base_url), tmp_path)
    line = read_judgments(tmp_path / "judgments.jsonl")[0]
    for key in ("id", "question", "answer", "pred", "raw", "verdict", "status", "requested_model",
                "returned_model", "prompt_version", "prompt_hash", "latency_s", "tokens", "cached",
                "attempts", "protocol", "extra"):
        assert key in line
    assert line["status"] == "ok" and line["cached"] is False and line["attempts"] == 1
    assert line["returned_model"] == "gpt-3.5-turbo-0613" and line["requested_model"] == "gpt-3.5-turbo"
    assert set(line["tokens"]) == {"prompt", "completion"}
    assert line["verdict"]["pred"] in ("yes", "no") and line["prompt_version"] == "vcgpt-qa-v1"


def test_rerun_sends_zero_requests(judge_server, tmp_path):
    items = make_items(20)
    run(items, cfg_for(judge_server.base_url), tmp_path)
    judge_server.reset()
    # same judgments file: everything is resumed, nothing rewritten
    s = run(items, cfg_for(judge_server.base_url), tmp_path)
    assert judge_server.n_requests == 0 and s.n_resumed == 20 and s.n_written == 0
    assert len(ids_in(tmp_path / "judgments.jsonl")) == 20
    # new judgments file, same cache: all cache hits
    s = run(items, cfg_for(judge_server.base_url), tmp_path, jname="again.jsonl")
    assert judge_server.n_requests == 0 and s.n_cache_hits == 20 and s.n_requests == 0
    assert all(ln["cached"] for ln in read_judgments(tmp_path / "again.jsonl"))


def test_two_checkpoints_share_verdicts(judge_server, tmp_path):
    a = [JudgeItem(id=f"a{i}", question=f"q{i}", answer="dog", pred=f"a dog {i}", extra={"ckpt": "A"})
         for i in range(10)]
    b = [JudgeItem(id=f"b{i}", question=f"q{i}", answer="dog", pred=f"a dog {i}" if i < 6 else "a cat",
                   extra={"ckpt": "B"}) for i in range(10)]
    run(a, cfg_for(judge_server.base_url), tmp_path / "A")
    judge_server.reset()
    s = judge_items(b, cfg_for(judge_server.base_url), judgments_path=tmp_path / "B" / "j.jsonl",
                    cache_path=tmp_path / "A" / "cache.sqlite", progress=False)
    assert s.n_cache_hits == 6 and judge_server.n_requests == 4
    va = {ln["pred"]: ln["verdict"] for ln in read_judgments(tmp_path / "A" / "judgments.jsonl")}
    for ln in read_judgments(tmp_path / "B" / "j.jsonl"):
        if ln["pred"] in va:
            assert ln["verdict"] == va[ln["pred"]] and ln["cached"]


def test_identical_items_in_one_run_share_a_request(judge_server, tmp_path):
    items = [JudgeItem(id=str(i), question="q", answer="x", pred="x") for i in range(5)]
    s = run(items, cfg_for(judge_server.base_url), tmp_path)
    assert judge_server.n_requests == 1 and s.n_written == 5 and s.n_deduplicated == 4


def test_resume_after_crash_with_truncated_line(judge_server, tmp_path):
    items = make_items(20)
    run(items, cfg_for(judge_server.base_url), tmp_path, cname="cacheA.sqlite")
    path = tmp_path / "judgments.jsonl"
    lines = path.read_bytes().split(b"\n")
    kept = lines[:12]
    path.write_bytes(b"\n".join(kept) + b"\n" + lines[12][: len(lines[12]) // 2])  # killed mid-line
    kept_ids = {json.loads(x)["id"] for x in kept}
    judge_server.reset()
    # fresh cache: exactly the 8 lost items are re-judged
    s = run(items, cfg_for(judge_server.base_url), tmp_path, cname="cacheB.sqlite")
    assert s.n_resumed == 12 and judge_server.n_requests == 8
    asked = set(judge_server.requests_per_item())
    assert all(triple(it) not in asked for it in items if it.id in kept_ids)
    text = path.read_text()
    assert text.endswith("\n")
    ids = [json.loads(x)["id"] for x in text.splitlines()]  # every line is whole JSON
    assert sorted(ids) == sorted(it.id for it in items) and len(ids) == 20


def test_parse_outcomes_and_reasks(judge_server, tmp_path):
    markers = ["@garbage", "@garbage_once", "@float", "@oor", "@prose", "@json", "@caps", ""]
    items = [JudgeItem(id=str(i), question=f"q{i}", answer="red", pred=f"red {m}")
             for i, m in enumerate(markers)]
    s = run(items, cfg_for(judge_server.base_url, parse_retries=2), tmp_path)
    by_id = {ln["id"]: ln for ln in read_judgments(tmp_path / "judgments.jsonl")}
    per = judge_server.requests_per_item()
    assert by_id["0"]["status"] == "parse_error" and per[triple(items[0])] == 3
    assert by_id["1"]["status"] == "ok" and per[triple(items[1])] == 2
    assert by_id["1"]["parse_attempts"] == 2
    assert by_id["2"]["verdict"]["score"] == 4 and by_id["2"]["verdict"]["score_raw"] == 4.8
    assert by_id["3"]["status"] == "score_out_of_range" and per[triple(items[3])] == 3
    assert all(by_id[str(i)]["status"] == "ok" for i in (4, 5, 6, 7))
    assert s.status_counts == {"ok": 6, "parse_error": 1, "score_out_of_range": 1}
    assert s.metrics["strict"]["n_parse_error"] == 2 and s.metrics["strict"]["n_valid"] == 6
    assert s.n_reasks == 2 + 1 + 2
    # the final parse failures are cached too: re-running sends nothing
    judge_server.reset()
    run(items, cfg_for(judge_server.base_url), tmp_path, jname="again.jsonl")
    assert judge_server.n_requests == 0


def test_key_never_written_or_logged(judge_server, tmp_path, monkeypatch, caplog):
    secret = "sk-test-DO-NOT-LEAK-5e1f9c0b7a"
    monkeypatch.setenv("EVALKIT_TEST_JUDGE_KEY", secret)
    judge_server.api_key = secret
    cfg = cfg_for(judge_server.base_url, api_key_env="EVALKIT_TEST_JUDGE_KEY")
    caplog.set_level(logging.DEBUG)
    items = make_items(6, marker=lambda i: " @garbage" if i == 1 else "")
    s = run(items, cfg, tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps(s.to_dict()))
    (tmp_path / "repr.txt").write_text(repr(s))
    # sent as the bearer token on every request
    assert {r.authorization for r in judge_server.requests} == {f"Bearer {secret}"}
    # an auth failure's message and logs
    judge_server.api_key = "another-key"
    with pytest.raises(JudgeUnavailableError) as ei:
        run(make_items(3, prefix="z"), cfg, tmp_path, jname="z.jsonl")
    (tmp_path / "error.txt").write_text(str(ei.value) + repr(ei.value.summary))
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 5
    for p in files:
        assert secret.encode() not in p.read_bytes(), p
    assert secret not in caplog.text


def test_unreachable_endpoint_is_named_and_nothing_lost(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_TEST_JUDGE_KEY", "sk-secret-unreachable")
    preds = tmp_path / "predictions.jsonl"
    preds.write_text("".join(json.dumps({"id": f"q{i}"}) + "\n" for i in range(4)))
    digest = hashlib.sha256(preds.read_bytes()).hexdigest()
    url = f"http://127.0.0.1:{free_port()}/v1"
    cfg = cfg_for(url, max_retries=2, api_key_env="EVALKIT_TEST_JUDGE_KEY")
    with pytest.raises(JudgeUnavailableError) as ei:
        run(make_items(4), cfg, tmp_path)
    assert url in str(ei.value) and "sk-secret-unreachable" not in str(ei.value)
    assert hashlib.sha256(preds.read_bytes()).hexdigest() == digest
    assert not (tmp_path / "judgments.jsonl").exists()  # no empty file posing as "judged"


def test_outage_mid_run_keeps_what_was_judged(judge_server, tmp_path):
    items = make_items(10, marker=lambda i: " @500x3" if i == 9 else "")
    cfg = cfg_for(judge_server.base_url, concurrency=1, max_retries=2)
    with pytest.raises(JudgeUnavailableError) as ei:
        run(items, cfg, tmp_path)
    assert judge_server.base_url in str(ei.value)
    assert sorted(ids_in(tmp_path / "judgments.jsonl")) == sorted(f"q{i}" for i in range(9))
    assert ei.value.summary.n_written == 9
    with JudgeCache(tmp_path / "cache.sqlite") as c:
        assert len(c) == 9
    # the endpoint recovers (4th request for item 9 succeeds): the rerun sends one request
    judge_server.reset()
    judge_server._per_item[triple(items[9])] = 3
    s = run(items, cfg, tmp_path)
    assert s.n_requests == 1 and s.n_resumed == 9 and len(ids_in(tmp_path / "judgments.jsonl")) == 10


def test_401_fails_fast(judge_server, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_TEST_JUDGE_KEY", "wrong")
    judge_server.api_key = "right"
    with pytest.raises(JudgeUnavailableError, match="401"):
        run(make_items(30), cfg_for(judge_server.base_url, api_key_env="EVALKIT_TEST_JUDGE_KEY",
                                    concurrency=4), tmp_path)
    assert judge_server.n_requests <= 4  # in-flight ones only; nothing retried


def test_missing_key_for_openai_sends_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="set OPENAI_API_KEY or judge.api_key_env"):
        run(make_items(2), JudgeConfig(name="gpt35"), tmp_path)
    assert not (tmp_path / "judgments.jsonl").exists()


def test_request_errors_leave_items_unjudged(judge_server, tmp_path):
    judge_server.enqueue(Fault("400"))
    items = make_items(5)
    s = run(items, cfg_for(judge_server.base_url, concurrency=1), tmp_path)
    assert s.n_failed == 1 and s.failed_ids == ["q0"] and s.n_written == 4
    s = run(items, cfg_for(judge_server.base_url, concurrency=1), tmp_path)
    assert s.n_written == 1 and s.n_failed == 0


def test_dry_run_sends_nothing_and_counts_misses(judge_server, tmp_path):
    items = make_items(10)
    run(items[:4], cfg_for(judge_server.base_url), tmp_path)
    judge_server.reset()
    before = sorted(p.name for p in tmp_path.iterdir())
    rep = dry_run(items, cfg_for(judge_server.base_url), tmp_path / "cache.sqlite")
    assert rep.n_items == 10 and rep.n_cache_hits == 4 and rep.n_requests == 6
    assert rep.est_prompt_tokens > 0 and rep.est_cost_usd > 0
    rep = dry_run(items, cfg_for(judge_server.base_url), tmp_path / "nocache.sqlite",
                  judgments_path=tmp_path / "judgments.jsonl")
    assert rep.n_already_judged == 4 and rep.n_requests == 6
    s = run(items, cfg_for(judge_server.base_url, dry_run=True), tmp_path, jname="dry.jsonl")
    assert s.dry_run is not None and s.dry_run.n_requests == 6 and s.n_requests == 0
    assert judge_server.n_requests == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no new files


def _judge_in_process(url, items, jpath, cpath, q):
    try:
        s = judge_items(items, cfg_for(url, concurrency=4), judgments_path=Path(jpath),
                        cache_path=Path(cpath), progress=False)
        q.put(s.n_written)
    except BaseException as exc:
        q.put(repr(exc))


def test_two_processes_share_one_cache(tmp_path):
    items = make_items(40)
    ctx = mp.get_context("fork")
    with FakeJudgeServer(latency_s=0.01) as server:
        q = ctx.Queue()
        procs = [ctx.Process(target=_judge_in_process,
                             args=(server.base_url, items, str(tmp_path / f"j{k}.jsonl"),
                                   str(tmp_path / "shared.sqlite"), q)) for k in range(2)]
        for p in procs:
            p.start()
        results = [q.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert results == [40, 40]
        assert max(server.requests_per_item().values()) <= 2
    with JudgeCache(tmp_path / "shared.sqlite") as c:
        assert len(c) == 40
    v0 = {ln["id"]: ln["verdict"] for ln in read_judgments(tmp_path / "j0.jsonl")}
    v1 = {ln["id"]: ln["verdict"] for ln in read_judgments(tmp_path / "j1.jsonl")}
    assert v0 == v1


def test_disabled_and_duplicate_ids(tmp_path):
    with pytest.raises(ValueError, match="disabled"):
        run(make_items(1), JudgeConfig(), tmp_path)
    dup = make_items(2) + make_items(1)
    with pytest.raises(ValueError, match="duplicate"):
        run(dup, cfg_for("http://127.0.0.1:1/v1"), tmp_path)


def test_works_inside_a_running_event_loop(judge_server, tmp_path):
    import asyncio

    async def main():
        return run(make_items(3), cfg_for(judge_server.base_url), tmp_path)

    assert asyncio.run(main()).n_written == 3


def test_changed_prediction_is_rejudged_exactly_that_item(judge_server, tmp_path):
    from dataclasses import replace

    items = make_items(10)
    run(items, cfg_for(judge_server.base_url), tmp_path)
    judge_server.reset()
    changed = [replace(it, pred="I see object4 now") if it.id == "q4" else it for it in items]
    s = run(changed, cfg_for(judge_server.base_url), tmp_path)
    assert judge_server.n_requests == 1 and s.n_changed == 1 and s.n_resumed == 9 and s.n_written == 1
    assert judge_server.requests_per_item() == {triple(changed[4]): 1}
    lines = read_judgments(tmp_path / "judgments.jsonl")
    assert [ln["id"] for ln in lines].count("q4") == 2 and lines[-1]["pred"] == "I see object4 now"
    # the summary's metrics use the new verdict (yes), not the stale one (no)
    assert s.metrics["strict"]["n_yes"] == 6 and s.metrics["strict"]["n_judged"] == 10
    # back to the old prediction: its first line still settles it (any final line with the current key),
    # so nothing is sent, written or even read from the cache, and the metrics use that verdict again
    judge_server.reset()
    s = run(items, cfg_for(judge_server.base_url), tmp_path)
    assert judge_server.n_requests == 0 and s.n_changed == 0 and s.n_resumed == 10 and s.n_written == 0
    assert s.metrics["strict"]["n_yes"] == 5


def test_other_judge_model_or_prompt_is_a_different_verdict(judge_server, tmp_path, monkeypatch):
    from evalkit.judge import get_protocol

    items = make_items(4)
    run(items, cfg_for(judge_server.base_url), tmp_path)
    judge_server.reset()
    s = run(items, cfg_for(judge_server.base_url, model="gpt-3.5-turbo-0613"), tmp_path)
    # another judge: its own verdicts, appended beside the first judge's (nothing "changed", nothing overwritten)
    assert judge_server.n_requests == 4 and s.n_changed == 0
    lines = read_judgments(tmp_path / "judgments.jsonl")
    assert [ln["judge_id"] for ln in lines] == ["gpt-3.5-turbo"] * 4 + ["gpt-3.5-turbo-0613"] * 4
    # back to the first judge, then the second again: both settled by their own lines, 0 requests
    for model in ("gpt-3.5-turbo", "gpt-3.5-turbo-0613"):
        judge_server.reset()
        s = run(items, cfg_for(judge_server.base_url, model=model), tmp_path)
        assert judge_server.n_requests == 0 and s.n_resumed == 4 and s.n_written == 0
    assert len(read_judgments(tmp_path / "judgments.jsonl")) == 8
    judge_server.reset()
    s = run(items, cfg_for(judge_server.base_url), tmp_path)  # the first judge again: free
    assert judge_server.n_requests == 0 and s.n_resumed == 4 and s.n_written == 0
    proto = get_protocol("video_chatgpt_qa")
    monkeypatch.setattr(type(proto), "templates", {**proto.templates, "user": proto.templates["user"] + " "})
    s = run(items, cfg_for(judge_server.base_url, model="gpt-3.5-turbo-0613"), tmp_path)
    assert judge_server.n_requests == 4 and s.n_changed == 4


def test_returned_model_known_for_cached_and_resumed_lines(judge_server, tmp_path):
    items = make_items(6)
    run(items, cfg_for(judge_server.base_url), tmp_path)
    # a fresh judgments file served entirely from the cache, then a pure resume: no request made,
    # yet the snapshot that answered is known from the stored verdicts
    s = run(items, cfg_for(judge_server.base_url), tmp_path, jname="again.jsonl")
    assert s.n_requests == 0 and s.returned_models == ["gpt-3.5-turbo-0613"] and s.n_without_model == 0
    lines = read_judgments(tmp_path / "again.jsonl")
    assert all(ln["cached"] and ln["returned_model"] == "gpt-3.5-turbo-0613" for ln in lines)
    assert all(ln["replies"] == [ln["raw"]] and len(ln["key"]) == 64 for ln in lines)
    s = run(items, cfg_for(judge_server.base_url), tmp_path, jname="again.jsonl")
    assert s.n_resumed == 6 and s.returned_models == ["gpt-3.5-turbo-0613"]


def test_lines_written_before_keys_were_stored_are_recognised(judge_server, tmp_path):
    items = make_items(5)
    run(items, cfg_for(judge_server.base_url), tmp_path)
    path = tmp_path / "judgments.jsonl"
    old = [{k: v for k, v in json.loads(x).items() if k not in ("key", "replies")}
           for x in path.read_text().splitlines()]
    old[2]["pred"] = "edited by hand"  # its verdict judged another prediction
    path.write_text("".join(json.dumps(x) + "\n" for x in old))
    judge_server.reset()
    s = run(items, cfg_for(judge_server.base_url), tmp_path, cname="other.sqlite")
    assert s.n_resumed == 4 and s.n_changed == 1 and judge_server.n_requests == 1
