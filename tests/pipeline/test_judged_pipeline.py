"""The judge wired into the job: stages, cache across checkpoints, failures that lose nothing."""

import hashlib
import json

import pytest

from evalkit.judge import JudgeUnavailableError
from evalkit.api import run as run_job
from evalkit.errors import DataError
from evalkit.pipeline import build_plan
from tests.judge_server import FakeJudgeServer

KEY = "sk-test-SECRET-0123456789"


@pytest.fixture()
def server():
    with FakeJudgeServer(api_key=KEY) as s:
        yield s


def _ov(out, server_url, *extra):
    return ["task=demo_shapes", "run.limit=12", "runner.batch_size=6", "runner.progress=false",
            f"output_dir={out}", "run.name=trained", "judge=gpt35", f"judge.base_url={server_url}",
            "judge.api_key_env=EVALKIT_TEST_JUDGE_KEY", "judge.backoff_base_s=0.01", "judge.backoff_max_s=0.05",
            *extra]


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_stages_cache_and_no_key_on_disk(compose, server, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_TEST_JUDGE_KEY", KEY)
    out = tmp_path / "out"
    run_job(compose(_ov(out, server.base_url, "stage=predict")))
    tdir = out / "trained" / "demo_shapes"
    assert (tdir / "predictions.jsonl").exists() and not (tdir / "judgments.jsonl").exists()
    assert server.n_requests == 0
    preds_hash = _sha(tdir / "predictions.jsonl")

    recs = [json.loads(x) for x in (tdir / "predictions.jsonl").read_text().splitlines()]
    distinct = len({(r["question"], r["answer"], r["pred"]) for r in recs})  # identical items: one request
    run_job(compose(_ov(out, server.base_url, "stage=judge")))
    assert server.n_requests == distinct and not (tdir / "metrics.json").exists()
    assert all(r.authorization == f"Bearer {KEY}" for r in server.requests)

    run_job(compose(_ov(out, server.base_url, "stage=score")))
    met = json.loads((tdir / "metrics.json").read_text())
    # the fake judge says yes exactly when the reference occurs in the prediction
    expect = sum(r["answer"].lower() in r["pred"].lower() for r in recs) / 12
    assert met["metrics"]["accuracy"] == pytest.approx(expect)
    assert met["headline"]["accuracy"] == pytest.approx(expect) and "score" in met["headline"]
    assert met["metrics"]["accuracy_all_samples"] == pytest.approx(expect) and met["metrics"]["n_unjudged"] == 0
    assert met["judge"]["models_returned"] == ["gpt-3.5-turbo-0613"]
    assert met["judge"]["model_requested"] == "gpt-3.5-turbo" and met["judge"]["aggregation"] == "paper"
    assert met["judge"]["counts"] == {"judged": 12, "unusable": 0, "unusable_by_aggregation": {"strict": 0, "paper": 0},
                                      "unjudged": 0, "stale": 0}
    assert met["counts"]["unusable_verdicts"] == 0 and met["counts"]["set_size"] == 192
    assert met["counts"]["selected"] == 12 and met["counts"]["subset"] is True
    assert set(met["metrics"]["judge_by_type"]) >= {"color", "direction"}

    # re-judging sends nothing; a second checkpoint with the same predictions shares the verdicts
    run_job(compose(_ov(out, server.base_url)))
    run_job(compose(_ov(out, server.base_url, "run.name=same_preds_other_ckpt")))
    assert server.n_requests == distinct
    assert _sha(tdir / "predictions.jsonl") == preds_hash

    # the strict aggregation re-scores for free
    run_job(compose(_ov(out, server.base_url, "stage=score", "judge.aggregation=strict")))
    assert json.loads((tdir / "metrics.json").read_text())["metrics"]["judge"]["aggregation"] == "strict"
    assert server.n_requests == distinct

    for f in out.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f


def test_unreachable_judge_fails_loudly_and_keeps_predictions(compose, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_TEST_JUDGE_KEY", KEY)
    from tests.judge_server import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    out = tmp_path / "out"
    with pytest.raises(JudgeUnavailableError) as e:
        run_job(compose(_ov(out, url, "judge.max_retries=1", "judge.timeout_s=2")))
    assert url.split("/v1")[0] in str(e.value) and KEY not in str(e.value)
    tdir = out / "trained" / "demo_shapes"
    assert len((tdir / "predictions.jsonl").read_text().splitlines()) == 12
    assert not (tdir / "metrics.json").exists()  # no silent fallback to exact match
    with pytest.raises(DataError, match="stage=judge"):
        run_job(compose(_ov(out, url, "stage=score")))


def test_dry_run_sends_nothing(compose, server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EVALKIT_TEST_JUDGE_KEY", KEY)
    res = run_job(compose(_ov(tmp_path, server.base_url, "judge.dry_run=true")))
    assert server.n_requests == 0 and 0 < res["judge"]["dry_run"]["n_requests"] <= 12
    assert not (tmp_path / "trained" / "demo_shapes" / "metrics.json").exists()


def test_judge_none_scores_offline_by_exact_match(compose, tmp_path):
    run_job(compose(["task=demo_shapes", "run.limit=6", "runner.progress=false", f"output_dir={tmp_path}",
                 "run.name=t"]))
    met = json.loads((tmp_path / "t" / "demo_shapes" / "metrics.json").read_text())
    assert met["metrics"]["scored_by"] == "exact_match" and met["judge"] is None
    # a judged task without its judge: exact match under its own name, never the task's accuracy
    assert "accuracy" not in met["metrics"] and "exact_match" in met["headline"]
    assert not [k for k in met["headline"] if k.startswith("accuracy")]


def test_missing_key_fails_before_any_inference(compose, tmp_path, monkeypatch):
    from evalkit.judge import MissingAPIKeyError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        run_job(compose(["task=demo_shapes", "run.limit=2", f"output_dir={tmp_path}", "judge=gpt35"]))
    assert not list(tmp_path.rglob("predictions.jsonl"))


def test_judge_config_errors_are_config_errors(compose, tmp_path):
    from evalkit.errors import ConfigError

    with pytest.raises(ConfigError, match="judge.model must be set"):
        build_plan(compose(["task=demo_shapes", f"output_dir={tmp_path}", "judge=openai_compatible"]))


def test_edited_prediction_is_unjudged_until_rejudged_and_parse_failures_are_counted(compose, server, tmp_path,
                                                                                    monkeypatch):
    monkeypatch.setenv("EVALKIT_TEST_JUDGE_KEY", KEY)
    out = tmp_path / "out"
    run_job(compose(_ov(out, server.base_url)))
    tdir = out / "trained" / "demo_shapes"
    n0 = server.n_requests
    # edit one prediction by hand: the fake judge never gives a parseable verdict for '@garbage'
    recs = [json.loads(x) for x in (tdir / "predictions.jsonl").read_text().splitlines()]
    edited = recs[3]["id"]
    recs[3]["pred"] = "a purple moon @garbage"
    (tdir / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))

    log: list[str] = []
    run_job(compose(_ov(out, server.base_url, "stage=score")), log=log.append)
    met = json.loads((tdir / "metrics.json").read_text())
    assert server.n_requests == n0  # the judge is off in stage=score
    assert met["judge"]["counts"]["stale"] == 1 and met["judge"]["counts"]["unjudged"] == 1
    assert met["metrics"]["n_unjudged"] == 1 and met["metrics"]["judge"]["n_judged"] == 11
    assert any("another prediction" in x and edited in x for x in log)
    assert any("11 verdicts used" in x and "1 unjudged" in x for x in log)

    log.clear()
    run_job(compose(_ov(out, server.base_url, "stage=judge")), log=log.append)
    assert {t[2] for t in server.requests_per_item()} >= {"a purple moon @garbage"}
    assert server.n_requests == n0 + 3  # exactly that sample: one request and its two re-asks
    assert any("1 re-judged" in x and "unusable verdicts 1 under paper" in x for x in log)

    log.clear()
    run_job(compose(_ov(out, server.base_url, "stage=score")), log=log.append)
    met = json.loads((tdir / "metrics.json").read_text())
    assert met["judge"]["counts"] == {"judged": 12, "unusable": 1, "unusable_by_aggregation": {"strict": 1, "paper": 1},
                                      "unjudged": 0, "stale": 0}
    assert met["counts"]["unusable_verdicts"] == 1 and met["metrics"]["judge"]["n_counted"] == 11
    assert any("12 verdicts used, 1 unusable" in x for x in log)
