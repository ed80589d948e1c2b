"""Credentials in URLs never reach a file or a log line: one redaction (evalkit.redaction) for the
run's files, Hydra's job files, sweep file and log, and the exceptions evalkit raises."""

from __future__ import annotations

import logging

from evalkit.redaction import RedactingFilter, redact_text, scrub
from tests._cli import cli_env, evalkit
from tests.judge_server import FakeJudgeServer

SECRETS = ("MODELPASS", "JUDGEPASS", "QUERYKEY", "QUERYTOKEN", "ENVKEYVALUE")


def test_redact_text_userinfo_and_credential_query_keys():
    text = ("POST http://user:pw1@h:8/v1/chat?api_key=k1&page=2 then https://tok2@x.org/a?key=k2;"
            "token=k3&access_token=k4&sig=k5&model=m and ${oc.env:X}@y")
    out = redact_text(text)
    for s in ("pw1", "k1", "tok2", "k2", "k3", "k4", "k5"):
        assert s not in out
    assert "page=2" in out and "model=m" in out and "h:8/v1/chat" in out
    assert redact_text("https://${oc.env:PASS}@host/v1") == "https://${oc.env:PASS}@host/v1"  # names, not secrets
    assert redact_text("the key sk-abc123 leaked", secrets=["sk-abc123"]) == "the key <redacted> leaked"


def test_scrub_redacts_credential_keys_not_token_counts():
    cfg = {"judge": {"api_key_env": "OPENAI_API_KEY", "api_key": "sk-1", "max_tokens": 64,
                     "base_url": "https://u:p@h/v1?key=q"},
           "model": {"max_new_tokens": 8, "hf_token": "hf_x", "password": "pw", "tokens_seen": 3}}
    out = scrub(cfg)
    assert out["judge"] == {"api_key_env": "OPENAI_API_KEY", "api_key": "<redacted>", "max_tokens": 64,
                            "base_url": "https://<redacted>@h/v1?key=<redacted>"}
    assert out["model"] == {"max_new_tokens": 8, "hf_token": "<redacted>", "password": "<redacted>",
                            "tokens_seen": 3}


def test_log_filter_redacts_arguments_and_unencodable_text():
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s", ("POST",
                               "http://u:MODELPASS@127.0.0.1/v1 \udcff"), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "HTTP Request: POST http://<redacted>@127.0.0.1/v1 \\udcff"


def _leaks(root, *texts):
    found = []
    for f in [p for p in root.rglob("*") if p.is_file()]:
        data = f.read_bytes()
        found += [f"{f}: {s}" for s in SECRETS if s.encode() in data]
    for t in texts:
        found += [f"console: {s}" for s in SECRETS if s in t]
    return found


def test_no_credential_in_any_file_or_log_line(tmp_path):
    """A served model and a judge behind URLs with credentials (user-info; query keys in a sweep):
    every file under the output folder (Hydra's included) and the console are free of them."""
    out = tmp_path / "out"
    env = cli_env(EVALKIT_SECRETS_TEST_KEY="ENVKEYVALUE")
    with FakeJudgeServer() as server:
        host = f"127.0.0.1:{server.port}"
        ov = ["task=demo_shapes", "run.limit=3", "model=openai_chat", "model.pretrained=served",
              f"model.base_url=http://modeluser:MODELPASS@{host}/v1", "judge=gpt35",
              f"judge.base_url=http://judgeuser:JUDGEPASS@{host}/v1",
              "judge.api_key_env=EVALKIT_SECRETS_TEST_KEY", f"output_dir={out}", "run.name=r",
              "runner.progress=false"]
        # hydra.verbose=httpx: httpx's per-request lines (debug-only by default) reach the log, redacted
        p = evalkit([*ov, "hydra.verbose=httpx"], cwd=tmp_path, env=env)
        assert server.n_requests == 6  # 3 predictions, 3 verdicts: the credentials did their job
        # a sweep (multirun.yaml, one job folder per job) with credentials in query strings
        p2 = evalkit(["-m", *ov[:6], "stage=judge", "judge.dry_run=true",
                      f'judge.base_url="http://judgeuser:JUDGEPASS@{host}/v1?api_key=QUERYKEY&token=QUERYTOKEN"',
                      "judge.api_key_env=EVALKIT_SECRETS_TEST_KEY", f"output_dir={out}", "run.name=r",
                      "runner.progress=false"], cwd=tmp_path, env=env)
    said = p.stdout + p.stderr + p2.stdout + p2.stderr
    assert "judge dry run" in said
    hydra_files = {f.name for f in (out / ".hydra").rglob("*") if f.is_file()}
    assert {"config.yaml", "hydra.yaml", "overrides.yaml", "evalkit.log", "multirun.yaml"} <= hydra_files
    log = next((out / ".hydra").glob("2*/evalkit.log")).read_text()
    assert "HTTP Request: POST http://<redacted>@127.0.0.1" in log  # httpx's request lines, redacted
    assert {"manifest.json", "metrics.json", "report.html", "predictions.jsonl", "judgments.jsonl"} <= \
        {f.name for f in (out / "r" / "demo_shapes").iterdir()}
    assert (out / "leaderboard.html").exists()
    assert _leaks(out, said) == []


def test_an_unexpected_exception_is_a_redacted_traceback_and_a_failed_job(compose, monkeypatch, caplog):
    """Anything but an EvalkitError used to reach Hydra, which printed its message as it was; now the
    job logs the traceback through the redaction (URL credentials and the configured API keys), and
    the command lists the failure and exits 1 while the other jobs of a sweep go on."""
    import evalkit.api
    from evalkit.cli import run as cli_run

    monkeypatch.setenv("EVALKIT_TEST_JUDGE_KEY", "ENVKEYVALUE")

    def boom(cfg, log=None):
        raise RuntimeError("POST https://user:MODELPASS@host/v1?token=QUERYTOKEN failed; sent ENVKEYVALUE")

    monkeypatch.setattr(evalkit.api, "run", boom)
    cfg = compose(["judge=openai_compatible", "judge.api_key_env=EVALKIT_TEST_JUDGE_KEY"])
    with caplog.at_level(logging.ERROR, logger="evalkit"):
        msg = cli_run._job(cfg)
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert msg.startswith("RuntimeError: POST https://<redacted>@host/v1?token=<redacted> failed; sent <redacted>")
    assert "Traceback" in said and "in boom" in said and "please report it" in said
    assert not any(s in said or s in msg for s in SECRETS)
    monkeypatch.setattr(evalkit.api, "run", lambda cfg, log=None: None)
    assert cli_run._job(cfg) is None
