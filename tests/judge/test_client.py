"""The async client against the loopback server: retries, Retry-After, auth, outages."""

from __future__ import annotations

import asyncio

import pytest

from evalkit.judge import JudgeConfig, JudgeUnavailableError
from evalkit.judge.client import JudgeClient
from evalkit.judge.endpoint import Endpoint
from evalkit.judge.errors import JudgeRequestError
from tests.judge_server import FakeJudgeServer, Fault, free_port, judge_server  # noqa: F401

MSG = [{"role": "system", "content": "s"},
       {"role": "user", "content": "Grade.\n\nQuestion: q\nCorrect Answer: cat\nPredicted Answer: a cat\n\n"}]


def fast_cfg(base_url: str, **kw) -> JudgeConfig:
    base = dict(name="test", base_url=base_url, concurrency=4, max_retries=3, timeout_s=5.0,
                backoff_base_s=0.001, backoff_max_s=0.01)
    base.update(kw)
    return JudgeConfig(**base)


def run_client(server_url, cfg, messages=MSG, key="EMPTY", sleep=None, n=1):
    async def main():
        async with JudgeClient(Endpoint(server_url, key, key != "EMPTY"), cfg, sleep=sleep) as c:
            results = await asyncio.gather(*(c.complete(messages) for _ in range(n)))
            return results, c.stats
    return asyncio.run(main())


def test_success_records_model_tokens_and_sends_key(judge_server):
    judge_server.api_key = "sk-test-abc"
    (res,), stats = run_client(judge_server.base_url, fast_cfg(judge_server.base_url), key="sk-test-abc")
    assert res.text == "{'pred': 'yes', 'score': 4}"
    assert res.model == "gpt-3.5-turbo-0613" and res.attempts == 1
    assert res.prompt_tokens > 0 and res.completion_tokens > 0
    assert stats.returned_models == {"gpt-3.5-turbo-0613"}
    req = judge_server.requests[0]
    assert req.authorization == "Bearer sk-test-abc"
    assert req.body["temperature"] == 0 and req.body["model"] == "gpt-3.5-turbo"


def test_retries_5xx_and_malformed_bodies(judge_server):
    judge_server.enqueue(Fault("500"), Fault("malformed_body"), Fault("500"),
                         Fault("malformed_body", content='{"unexpected": true}'))
    (res,), stats = run_client(judge_server.base_url, fast_cfg(judge_server.base_url, max_retries=4))
    assert res.attempts == 5 and stats.retries == 4 and judge_server.n_requests == 5
    assert stats.failures["HTTP 500"] == 2 and stats.failures["malformed response"] == 2
    assert res.text == "{'pred': 'yes', 'score': 4}"


def test_retry_after_is_honoured_by_wall_clock(judge_server):
    judge_server.enqueue(Fault("429", retry_after=1))
    (res,), _ = run_client(judge_server.base_url, fast_cfg(judge_server.base_url))
    assert res.attempts == 2
    t = [r.t for r in judge_server.requests]
    assert t[1] - t[0] >= 0.95  # backoff alone would be ~1 ms


def test_retry_after_is_honoured_with_fake_sleep(judge_server):
    delays = []

    async def fake_sleep(s):
        delays.append(s)

    judge_server.enqueue(Fault("429", retry_after=7), Fault("429"))
    (res,), _ = run_client(judge_server.base_url, fast_cfg(judge_server.base_url, backoff_max_s=0.5),
                           sleep=fake_sleep)
    assert res.attempts == 3
    assert delays[0] == pytest.approx(7.0, abs=0.1)   # server-requested wait
    assert 0.0 <= delays[1] <= 0.5                    # no header: jittered, capped backoff


def test_401_fails_fast_naming_endpoint_not_key(judge_server):
    judge_server.api_key = "the-right-key"
    secret = "sk-wrong-KEY-value-123"
    with pytest.raises(JudgeUnavailableError) as ei:
        run_client(judge_server.base_url, fast_cfg(judge_server.base_url, api_key_env="MY_JUDGE_KEY"),
                   key=secret)
    msg = str(ei.value)
    assert judge_server.base_url in msg and "401" in msg and "MY_JUDGE_KEY" in msg
    assert secret not in msg
    assert judge_server.n_requests == 1  # no retries


def test_unreachable_endpoint_after_retries():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(JudgeUnavailableError) as ei:
        run_client(url, fast_cfg(url, max_retries=2), key="sk-secret-xyz")
    assert url in str(ei.value) and "3 attempt" in str(ei.value)
    assert "sk-secret-xyz" not in str(ei.value) and ei.value.endpoint == url


def test_timeouts_are_retried(judge_server):
    judge_server.enqueue(Fault("slow", delay=1.0))
    (res,), stats = run_client(judge_server.base_url, fast_cfg(judge_server.base_url, timeout_s=0.3))
    assert res.attempts == 2 and stats.failures["timeout"] == 1


def test_wrong_path_404_is_unavailable_without_retry(judge_server):
    url = judge_server.base_url + "/bogus"
    with pytest.raises(JudgeUnavailableError, match="404"):
        run_client(url, fast_cfg(url))
    assert judge_server.n_requests == 1


def test_400_is_a_per_item_error_without_retry(judge_server):
    judge_server.enqueue(Fault("400"))
    with pytest.raises(JudgeRequestError, match="400"):
        run_client(judge_server.base_url, fast_cfg(judge_server.base_url))
    assert judge_server.n_requests == 1


def test_concurrency_is_bounded():
    with FakeJudgeServer(latency_s=0.05) as server:
        results, stats = run_client(server.base_url, fast_cfg(server.base_url, concurrency=3), n=12)
        assert len(results) == 12 and stats.requests == 12
        assert 2 <= server.max_in_flight <= 3
