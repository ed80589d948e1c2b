"""Open-weight judges in-process: tiny local chat LMs through the engine's own cache / resume / protocol code,
identified by their weights."""

import shutil

import pytest

from evalkit.errors import ConfigError
from evalkit.judge import JudgeConfig, JudgeItem, judge_items
from evalkit.judge.identity import judge_id, judge_key_model
from evalkit.judge.startup import fill_weights
from evalkit.judge.tiny import TinyJudgeSpec, build_tiny_judge
from evalkit.store import read_judgments

SPEC = TinyJudgeSpec(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2, max_position_embeddings=512)


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory):
    return build_tiny_judge(tmp_path_factory.mktemp("judge") / "j", ["what colour is it red blue"], SPEC, seed=0)


def _cfg(model, **kw):
    base = dict(name="local", backend="transformers", model=str(model), device="cpu", dtype="float32",
                batch_size=8, parse_retries=0, max_tokens=3)
    base.update(kw)
    return JudgeConfig(**base)


def _items(n=10):
    return [JudgeItem(id=f"q{i}", question="what colour is it?", answer="red",
                      pred=" ".join([["red", "blue", "it"][i % 3]] * (1 + i % 2))) for i in range(n)]


def _run(items, cfg, tmp_path, name="judgments.jsonl", cache="cache.sqlite"):
    return judge_items(items, cfg, judgments_path=tmp_path / name, cache_path=tmp_path / cache, progress=False)


def test_in_process_judge_batched_resumable_and_identified_by_its_weights(tiny_judge, tmp_path):
    cfg = _cfg(tiny_judge)
    s = _run(_items(), cfg, tmp_path)
    distinct = len({it.pred for it in _items()})
    assert s.n_written == 10 and s.n_requests == distinct == 6  # identical requests are sent once
    lines = read_judgments(tmp_path / "judgments.jsonl")
    ident = judge_id(cfg)
    assert ident.startswith("local:j@local#") and len(ident.split("#")[1]) == 12
    assert cfg.weights_sha256.startswith(ident.split("#")[1]) and len(cfg.weights_sha256) == 64
    assert all(ln["judge_id"] == ident and ln["returned_model"] == ident for ln in lines)
    assert s.returned_models == [ident] and s.endpoint == "in-process (cpu)"
    # batch size 1 gives the same greedy replies as batches of 8 (left padding); resume costs nothing
    one = _run(_items(), _cfg(tiny_judge, batch_size=1, concurrency=1), tmp_path, "one.jsonl", "one.sqlite")
    assert one.n_requests == 6
    assert [ln["raw"] for ln in read_judgments(tmp_path / "one.jsonl")] == [ln["raw"] for ln in lines]
    again = _run(_items(), _cfg(tiny_judge), tmp_path)
    assert again.n_requests == 0 and again.n_resumed == 10 and again.n_written == 0


def test_same_weights_same_judge_anywhere_other_weights_another(tiny_judge, tmp_path):
    _run(_items(), _cfg(tiny_judge), tmp_path)
    moved = shutil.copytree(tiny_judge, tmp_path / "elsewhere" / "renamed")
    cfg = _cfg(moved)
    s = _run(_items(), cfg, tmp_path, "moved.jsonl")
    assert s.n_requests == 0 and s.n_cache_hits == 10  # same bytes: the cached verdicts are this judge's
    first = _cfg(tiny_judge)
    fill_weights(first)
    assert judge_key_model(cfg) == judge_key_model(first) == f"weights-sha256:{first.weights_sha256}"
    other = build_tiny_judge(tmp_path / "other", ["what colour is it red blue"], SPEC, seed=1)
    cfg2 = _cfg(other)
    s2 = _run(_items(), cfg2, tmp_path)  # a second judge on the same file: appended, nothing overwritten
    assert s2.n_requests == 6 and cfg2.weights_sha256 != first.weights_sha256
    ids = [ln["judge_id"] for ln in read_judgments(tmp_path / "judgments.jsonl")]
    assert ids == [judge_id(first)] * 10 + [judge_id(cfg2)] * 10
    with pytest.raises(ConfigError, match="hash to"):  # pinned weights (the job's start-up check)
        fill_weights(_cfg(other, weights_sha256=first.weights_sha256))


def test_served_open_weights_are_identified_by_the_stated_weights():
    cfg = JudgeConfig(name="served", model="judge", weights_repo="Qwen/Qwen2.5-7B-Instruct",
                      weights_revision="a09a35458c702b33eeacc393d103063234e8bc28")
    assert judge_id(cfg) == "Qwen/Qwen2.5-7B-Instruct@a09a35458c702b33eeacc393d103063234e8bc28"
    assert judge_key_model(cfg) == judge_id(cfg)
    cfg.weights_sha256 = "ab" * 32
    assert judge_id(cfg).endswith("#abababababab") and judge_key_model(cfg) == "weights-sha256:" + "ab" * 32
    assert judge_id(JudgeConfig(name="h", model="gpt-4o-2024-11-20")) == "gpt-4o-2024-11-20"


def test_comparability_uses_the_weights_not_the_name():
    from evalkit.analysis.comparability import NOT, SAME, RunProtocol, between_runs

    def run(ident, sha):
        return RunProtocol(task="t", judged=True, aggregation="strict", judge_requested=ident, judge_weights=sha,
                           judge_snapshots=(ident,))

    a = run("local:j@local#aaaaaaaaaaaa", "a" * 64)
    assert between_runs(a, run("Org/judge@abc#aaaaaaaaaaaa", "a" * 64)).level == SAME
    assert between_runs(a, run("local:j@local#bbbbbbbbbbbb", "b" * 64)).level == NOT
    assert between_runs(a, run("gpt-4o", None)).level == NOT


def test_a_finished_run_keeps_the_verdicts_of_every_judge(compose, tiny_judge, tmp_path):
    """The demo judged by its judge, then `stage=judge` with another judge, then the first again: the file
    holds both judges' lines, the second pass of the first judge sends nothing, metrics name the judge used."""
    import json

    from evalkit.api import run as run_job

    quiet = lambda s: None  # noqa: E731
    ov = ["run.limit=6", "runner.progress=false", f"output_dir={tmp_path}", "run.name=t", "run.report=false"]
    run_job(compose([*ov, "judge=tiny_demo"]), log=quiet)
    tdir = tmp_path / "t" / "demo_shapes"
    first = json.loads((tdir / "metrics.json").read_text())["judge"]["judge_id"]
    other = run_job(compose([*ov, "stage=judge", "judge=hf_local", f"judge.model={tiny_judge}", "judge.device=cpu",
                             "judge.prompt=evalkit"]), log=quiet)
    assert other["judge"]["n_written"] == 6
    again = run_job(compose([*ov, "stage=all", "judge=tiny_demo"]), log=quiet)
    assert again["judge"]["n_requests"] == 0 and again["judge"]["n_resumed"] == 6
    ids = [json.loads(x)["judge_id"] for x in (tdir / "judgments.jsonl").read_text().splitlines()]
    assert ids[:6] == [first] * 6 and len(set(ids[6:])) == 1 and ids[6] != first and len(ids) == 12
    assert json.loads((tdir / "metrics.json").read_text())["judge"]["judge_id"] == first
