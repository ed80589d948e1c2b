"""Reference judge protocols: exact messages and sampling arguments on the wire (loopback server),
the reference scripts' acceptance / re-ask rules, and the choice between reference and evalkit wording."""

import json

import pytest

from evalkit.judge import JudgeConfig, JudgeItem, judge_items
from evalkit.prompts.importer import import_paths
from evalkit.prompts.judge import JudgePromptError, choose_judge_protocol, judge_deviations
from evalkit.prompts.store import PromptStore
from tests import _reference_shaped as shaped
from tests.judge_server import FakeJudgeServer, Fault


@pytest.fixture()
def server():
    with FakeJudgeServer() as s:
        yield s


@pytest.fixture()
def store(tmp_path, monkeypatch):
    root = shaped.write_checkout(tmp_path / "Video-LLaVA")
    shaped.register_known(monkeypatch, root)
    st = PromptStore(tmp_path / "store")
    assert all(r.status == "reference" for r in import_paths([root], st))
    import evalkit.tasks.image  # noqa: F401  (registers the image judge protocol families)
    return st


def _cfg(server, choice, **kw):
    base = dict(name="gpt35", model="gpt-3.5-turbo", base_url=server.base_url, api_key_env="NO_SUCH_KEY_VAR",
                protocol=choice.key, concurrency=2, backoff_base_s=0.0, backoff_max_s=0.0)
    base.update(kw)
    return JudgeConfig(**base)


ITEMS = [JudgeItem("1", "What {colour} is it?", "red", "It is red."),
         JudgeItem("2", "Who's there?", "a 'dog'", "a cat\nand {x}")]


def test_video_qa_sends_the_reference_messages_and_no_sampling_arguments(server, store, tmp_path):
    choice = choose_judge_protocol("video_chatgpt_qa", "auto", "reference", store)
    assert choice.hint is None and choice.judge_prompt["source"] == "reference"
    summary = judge_items(ITEMS, _cfg(server, choice), judgments_path=tmp_path / "j.jsonl",
                          cache_path=tmp_path / "c.sqlite", progress=False, protocol=choice.protocol)
    assert summary.n_requests == 2 and summary.status_counts == {"ok": 2}
    bodies = {r.item[0]: r.body for r in server.requests}
    for it in ITEMS:
        body = bodies[it.question]
        # byte for byte what the script's own expression builds, roles included
        assert body["messages"] == shaped.script_messages(shaped.VIDEO_QA, question=it.question,
                                                          answer=it.answer, pred=it.pred)
        assert "temperature" not in body and "max_tokens" not in body and body["model"] == "gpt-3.5-turbo"
    lines = [json.loads(x) for x in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert {ln["prompt_hash"] for ln in lines} == {choice.protocol.prompt_hash}
    assert choice.protocol.prompt_hash == store.get("video_chatgpt_qa").sha256
    assert all(ln["protocol"] == "video_chatgpt_qa" for ln in lines)  # the family: aggregation works as before


def test_config_sampling_is_a_named_deviation(server, store, tmp_path):
    choice = choose_judge_protocol("video_chatgpt_qa", "auto", "config", store)
    cfg = _cfg(server, choice, temperature=0.0, max_tokens=64, model="gpt-4o")
    judge_items(ITEMS[:1], cfg, judgments_path=tmp_path / "j.jsonl", cache_path=tmp_path / "c.sqlite",
                progress=False, protocol=choice.protocol)
    body = server.requests[0].body
    assert body["temperature"] == 0.0 and body["max_tokens"] == 64
    devs = " | ".join(judge_deviations(choice, cfg))
    assert "judge.sampling=config" in devs and "gpt-4o requested; the reference file requests gpt-3.5-turbo" in devs
    # another sampling mode is another cache entry: the reference-sampling verdict is not reused
    ref = choose_judge_protocol("video_chatgpt_qa", "auto", "reference", store)
    assert ref.protocol.version != choice.protocol.version and ref.protocol.prompt_hash == choice.protocol.prompt_hash


def test_reference_acceptance_rule(server, store, tmp_path):
    """literal_eval + JSON-savable => final (even if not a valid verdict); otherwise the same
    messages again."""
    choice = choose_judge_protocol("video_chatgpt_qa", "reference", "reference", store)
    server.enqueue(Fault("reply", content="Sure! The answer matches."),        # no literal: ask again
                   Fault("reply", content="{'yes', 'no'}"),                      # a set: not JSON-savable
                   Fault("reply", content="{'pred': 'maybe', 'score': 3}"))      # parses: final, not valid
    judge_items(ITEMS[:1], _cfg(server, choice, concurrency=1, parse_retries=5),
                judgments_path=tmp_path / "j.jsonl", cache_path=tmp_path / "c.sqlite", progress=False,
                protocol=choice.protocol)
    assert server.n_requests == 3
    first = server.requests[0].body["messages"]
    assert all(r.body["messages"] == first for r in server.requests)  # re-asked with the very same messages
    (line,) = [json.loads(x) for x in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert line["status"] == "parse_error" and line["raw"] == "{'pred': 'maybe', 'score': 3}"
    assert line["verdict"] == {"pred_raw": "maybe", "score_raw": 3, "score": 3} and line["parse_attempts"] == 3

    server.reset()
    server.enqueue(Fault("reply", content="{'pred': 'yes', 'score': 4.8}"))
    judge_items([JudgeItem("9", "q", "a", "p")], _cfg(server, choice), judgments_path=tmp_path / "k.jsonl",
                cache_path=tmp_path / "c.sqlite", progress=False, protocol=choice.protocol)
    (line,) = [json.loads(x) for x in (tmp_path / "k.jsonl").read_text().splitlines()]
    assert line["status"] == "ok" and line["verdict"]["score"] == 4 and line["verdict"]["score_raw"] == 4.8


def test_llava_bench_reference(server, store, tmp_path):
    choice = choose_judge_protocol("llava_bench_pairwise", "auto", "reference", store)
    assert [p["kind"] for p in choice.judge_prompt["parts"]] == ["llava_bench_review", "llava_bench_rules"]
    item = JudgeItem("7", "What is unusual?", "A man irons on a taxi.", "A man {irons}.",
                     extra={"context": "a taxi\na man", "category": "detail"})
    server.enqueue(Fault("reply", content="Scores: 8 and 6\nbecause"))  # unreadable first line: final
    judge_items([item], _cfg(server, choice), judgments_path=tmp_path / "j.jsonl",
                cache_path=tmp_path / "c.sqlite", progress=False, protocol=choice.protocol)
    assert server.n_requests == 1  # the script records [-1, -1]; no re-ask
    body = server.requests[0].body
    assert body["temperature"] == 0.2 and body["max_tokens"] == 1024
    rule = shaped.RULES["llava_bench_detail"]
    expected_user = shaped.assigned_expression(
        shaped.REVIEW_BENCH, "content", cap_str=item.extra["context"], ques={"text": item.question},
        ans1={"text": item.answer}, ans2={"text": item.pred}, role=rule["role"], prompt=rule["prompt"])
    assert body["messages"] == [{"role": "system", "content": "You are a fair grader of answers."},
                                {"role": "user", "content": expected_user}]
    (line,) = [json.loads(x) for x in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert line["status"] == "parse_error" and line["raw"].startswith("Scores")


def test_mm_vet_reference_reask_schedule(server, store, tmp_path):
    choice = choose_judge_protocol("mm_vet_grade", "auto", "reference", store)
    assert choice.protocol.reference_parse_retries == 4  # 5 replies read, as the script's try counter
    item = JudgeItem("v1_0", "Which {fruit}?", "apple<OR>pear", "pear")
    server.enqueue(*[Fault("reply", content="I think so") for _ in range(5)])
    judge_items([item], _cfg(server, choice, parse_retries=4), judgments_path=tmp_path / "j.jsonl",
                cache_path=tmp_path / "c.sqlite", progress=False, protocol=choice.protocol)
    temps = [r.body["temperature"] for r in server.requests]
    assert temps == [0.0, 0.0, 0.5, 1.0, 1.5] and {r.body["max_tokens"] for r in server.requests} == {3}
    names = {"prompt": shaped.MM_VET_PROMPT, "line": {"question": item.question, "answer": item.answer},
             "model_pred": item.pred}
    first = shaped.assigned_expression(shaped.MM_VET, "question", 0, **names)
    again = shaped.assigned_expression(shaped.MM_VET, "question", 1, **names)
    assert server.requests[0].body["messages"] == [{"role": "user", "content": first}]
    assert all(r.body["messages"] == [{"role": "user", "content": again}] for r in server.requests[1:])
    (line,) = [json.loads(x) for x in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert line["status"] == "parse_error" and line["parse_attempts"] == 5


def test_choice_without_import_and_custom(tmp_path, monkeypatch):
    empty = PromptStore(tmp_path / "empty")
    c = choose_judge_protocol("video_chatgpt_qa", "auto", "reference", empty)
    assert c.judge_prompt["source"] == "evalkit" and c.judge_prompt["label"] == "evalkit wording"
    assert c.key == "video_chatgpt_qa" and "evalkit-prompts import" in c.hint
    with pytest.raises(JudgePromptError, match="not imported"):
        choose_judge_protocol("video_chatgpt_qa", "reference", "reference", empty)
    with pytest.raises(JudgePromptError, match="no reference prompt"):
        choose_judge_protocol("mmbench_choice", "reference", "reference", empty)
    assert choose_judge_protocol("mmbench_choice", "auto", "reference", empty).hint is None
    # an edited copy: unknown hash -> only usable by name, labelled as not the reference's
    root = shaped.write_checkout(tmp_path / "vl")
    f = root / "videollava/eval/video/eval_video_qa.py"
    f.write_text(shaped.VIDEO_QA.replace("Other words are fine.", "Other words are fine too."))
    st = PromptStore(tmp_path / "s")
    import_paths([f], st, name="tweaked")
    assert choose_judge_protocol("video_chatgpt_qa", "auto", "reference", st).judge_prompt["source"] == "evalkit"
    c = choose_judge_protocol("video_chatgpt_qa", "custom:tweaked", "reference", st)
    assert c.judge_prompt["source"] == "custom" and c.judge_prompt["custom_name"] == "tweaked"
    assert c.judge_prompt["reference"] is None and "not a known reference version" in " ".join(c.deviations)


def test_the_plan_keeps_the_reference_reask_limit_and_refuses_another(store, compose, tmp_path):
    """With the reference MM-Vet prompt and its sampling, parse_retries is the script's limit; a
    different value the user set is a ConfigError naming both, never silently replaced."""
    from evalkit.config import Stage, build_task
    from evalkit.errors import ConfigError
    from evalkit.pipeline.plan import resolve_judge

    task = build_task({"adapter": "mm_vet", "name": "mm_vet", "data_root": str(tmp_path)})
    user = JudgeConfig(name="gpt4", model="gpt-4-0613", dry_run=True)
    judge, choice = resolve_judge(user, task, Stage.ALL, store)
    assert judge.parse_retries == choice.protocol.reference_parse_retries == 4 and user.parse_retries == 2
    assert judge.protocol == choice.key and user.protocol == JudgeConfig().protocol  # the user's object unchanged
    with pytest.raises(ConfigError, match=r"judge.parse_retries=7.* re-asks 4 times"):
        resolve_judge(JudgeConfig(name="gpt4", model="m", dry_run=True, parse_retries=7), task, Stage.ALL, store)
    judge, _ = resolve_judge(JudgeConfig(name="gpt4", model="m", dry_run=True, parse_retries=7, sampling="config"),
                             task, Stage.ALL, store)
    assert judge.parse_retries == 7  # judge.sampling=config: the user's own settings
