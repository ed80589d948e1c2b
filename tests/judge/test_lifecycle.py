"""Judges that are gone: the lifecycle file, the live `shutdown_date` read, and `model_not_found` mid-run,
against a loopback server that answers like the API does for shut-down models."""

from datetime import date, timedelta

import pytest

from evalkit.errors import ConfigError
from evalkit.judge import JudgeConfig, JudgeItem, JudgeUnavailableError, judge_items
from evalkit.judge.lifecycle import (ModelNotServed, check_hosted_judge, check_lifecycle, judge_lifecycle,
                                     known_lifecycle)
from evalkit.pipeline import Job
from tests.judge_server import FakeJudgeServer

TODAY = date(2026, 12, 6)


def _cfg(url, model="gpt-3.5-turbo", **kw):
    return JudgeConfig(name="test", model=model, base_url=url, api_key_env="EVALKIT_TEST_NO_KEY", max_retries=0,
                       timeout_s=5.0, **kw)


def test_the_lifecycle_file_knows_the_papers_judges_and_its_dates_stop_or_warn():
    gone = known_lifecycle("gpt-3.5-turbo")
    assert gone.shutdown_date == date(2026, 10, 23) and "deprecations" in gone.source
    assert known_lifecycle("gpt-3.5-turbo-0613").shutdown_date == date(2024, 9, 13)
    assert known_lifecycle("gpt-4-0613").shutdown_date == date(2026, 10, 23)
    assert known_lifecycle("my-own-model") is None
    with pytest.raises(ConfigError) as e:
        check_lifecycle(gone, display="https://api.openai.com/v1", today=TODAY)
    msg = str(e.value)
    assert "\n" not in msg and "'gpt-3.5-turbo'" in msg and "2026-10-23" in msg
    assert "judge=hf_local" in msg and "judge.model=<a current model>" in msg
    warned = []
    check_lifecycle(known_lifecycle("gpt-4o"), display="x", today=date(2026, 12, 20), warn=warned.append)
    assert len(warned) == 1 and "2027-01-14" in warned[0] and "25 day(s)" in warned[0]
    warned.clear()
    check_lifecycle(known_lifecycle("gpt-4o"), display="x", today=TODAY, warn=warned.append)  # 39 days: fine
    check_lifecycle(None, display="x", today=TODAY, warn=warned.append)  # unknown: fine
    assert not warned
    # the file speaks for the provider's own API only: a proxy may still serve the paper's judge
    offline = lambda *a, **k: (None, None)  # noqa: E731 - no answer from the endpoint
    assert judge_lifecycle("gpt-3.5-turbo", "https://api.openai.com/v1", None, display="o", fetch=offline) == gone
    assert judge_lifecycle("gpt-3.5-turbo", "http://127.0.0.1:9/v1", None, display="o", fetch=offline) is None


def test_live_shutdown_date_and_model_not_found_at_start_up():
    with FakeJudgeServer() as server:
        server.model_objects = {"old-judge": {"shutdown_date": "2026-01-05"},
                                "soon-judge": {"shutdown_date": (TODAY + timedelta(days=10)).isoformat()},
                                "live-judge": {"shutdown_date": None}}
        server.retired = {"gpt-3.5-turbo"}
        with pytest.raises(ConfigError, match=r"'old-judge' was shut down on 2026-01-05 .*models/old-judge"):
            check_hosted_judge(_cfg(server.base_url, "old-judge"), today=TODAY)
        warned = []
        info = check_hosted_judge(_cfg(server.base_url, "soon-judge"), today=TODAY, warn=warned.append)
        assert info.shutdown_date == TODAY + timedelta(days=10) and "in 10 day(s)" in warned[0]
        assert check_hosted_judge(_cfg(server.base_url, "live-judge"), today=TODAY).shutdown_date is None
        assert check_hosted_judge(_cfg(server.base_url, "unlisted"), today=TODAY) is None  # no route: unknown
        with pytest.raises(ModelNotServed, match=r"'gpt-3.5-turbo' is not served by http://127.0.0.1:\d+/v1 "
                                                 r"\(shut down / not available.*deprecated"):
            check_hosted_judge(_cfg(server.base_url), today=TODAY)
        assert server.n_requests == 0 and len(server.model_reads) == 5  # reads only, no chat request


def test_model_not_found_mid_run_says_not_served_not_check_base_url(tmp_path):
    with FakeJudgeServer() as server:
        server.retired = {"gpt-3.5-turbo"}
        items = [JudgeItem(id=f"q{i}", question="q?", answer="red", pred="red") for i in range(3)]
        with pytest.raises(JudgeUnavailableError) as e:
            judge_items(items, _cfg(server.base_url), judgments_path=tmp_path / "j.jsonl",
                        cache_path=tmp_path / "c.sqlite", progress=False)
    msg = str(e.value)
    assert "'gpt-3.5-turbo' is not served by" in msg and "shut down / not available" in msg
    assert "base_url" not in msg and "judge=hf_local" in msg


def test_a_shut_down_judge_stops_the_job_before_the_data_and_predict_is_never_blocked(compose, tmp_path):
    with FakeJudgeServer() as server:
        server.model_objects = {"gpt-3.5-turbo": {"shutdown_date": "2026-10-23"}}
        ov = ["run.limit=2", "runner.progress=false", f"output_dir={tmp_path}", "run.name=t", "judge=gpt35",
              f"judge.base_url={server.base_url}", "judge.api_key_env=EVALKIT_TEST_NO_KEY", "run.report=false"]
        with pytest.raises(ConfigError, match="was shut down on 2026-10-23"):
            Job(compose(ov), log=lambda s: None)
        assert not list(tmp_path.rglob("*.jsonl"))
        Job(compose([*ov, "stage=predict"]), log=lambda s: None).run()  # no judge needed: never blocked
        assert (tmp_path / "t" / "demo_shapes" / "predictions.jsonl").exists() and server.n_requests == 0
