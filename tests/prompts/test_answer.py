"""Answer prompts: imported conversation templates render as get_prompt() does; each task's paper
protocol (template, max_new_tokens, image padding) is the default; overrides win; runs record it."""

import json

import pytest
from PIL import Image

from evalkit.config import build_model
from evalkit.prompts.conversation import TemplateChoiceError, from_conversation
from evalkit.api import run as run_job
from evalkit.prompts.answer import NOT_PAPER, configure_answer
from evalkit.prompts.importer import import_paths
from evalkit.prompts.store import PromptStore
from evalkit.tasks.image.mmbench import MMBenchTask
from evalkit.tasks.image.scienceqa import ScienceQATask
from evalkit.tasks.image.vqav2 import VQAv2Task
from evalkit.tasks.video_qa import VideoQATask
from tests import _reference_shaped as shaped
from tests.judge_server import FakeJudgeServer

SYSTEM_LLAVA = "A talk between a keen human and a helpful machine. The machine answers the human's questions kindly."


@pytest.fixture()
def checkout(tmp_path, monkeypatch):
    root = shaped.write_checkout(tmp_path / "Video-LLaVA")
    shaped.register_known(monkeypatch, root)
    return root


@pytest.fixture()
def store(tmp_path, checkout):
    st = PromptStore(tmp_path / "store")
    import_paths([checkout], st)
    return st


def _conversations():
    ns: dict = {}
    exec(compile(shaped.CONVERSATION, "<shaped conversation.py>", "exec"), ns)  # our own test file
    return ns["conv_templates"]


@pytest.mark.parametrize("name", ["llava_v1", "vicuna_v1"])
@pytest.mark.parametrize("media, text", [("<video>", "What happens?"), ("<image>", "Name {it}."), ("", "Hi"),
                                         ("", "")])
def test_template_renders_as_the_conversations_get_prompt(store, name, media, text):
    entry = store.get(f"conv_{name}")
    tmpl = from_conversation(entry.document, entry.sha256, "reference", entry.reference)
    conv = _conversations()[name].copy()
    conv.append_message(conv.roles[0], f"{media}\n{text}" if media else text)
    conv.append_message(conv.roles[1], None)
    assert tmpl.render(text, media) == conv.get_prompt()


def _model(**kw):
    return build_model({"adapter": "video_llava", "name": "m", "pretrained": "p", **kw})


def test_paper_tasks_pick_the_imported_template_by_default(store):
    m = _model()
    setup = configure_answer(m, VideoQATask.paper_answer, store)
    assert setup.hint is None and setup.template.name == "llava_v1"
    assert setup.answer_prompt == {"template": "llava_v1", "hash": store.get("conv_llava_v1").sha256,
                                   "source": "reference", "reference": store.get("conv_llava_v1").reference,
                                   "requested": None, "paper_template": "llava_v1", "paper": True, "label": "paper"}
    assert m.cfg.max_new_tokens == 1024 and setup.generation["max_new_tokens_source"] == "paper"
    from evalkit.models.base import GenerationInput

    assert m.prompt_for(GenerationInput("1", "What?", "video")) == SYSTEM_LLAVA + " USER: <video>\nWhat? ASSISTANT:"
    m = _model()
    setup = configure_answer(m, VQAv2Task.paper_answer, store)
    assert setup.template.name == "vicuna_v1" and setup.answer_prompt["paper"] and m.cfg.max_new_tokens == 128
    assert setup.generation["image_pad"] is True and setup.generation["deviations"] == []


def test_overrides_win_and_are_not_the_papers(store):
    m = _model(prompt_template="videollava", max_new_tokens=7)
    setup = configure_answer(m, VideoQATask.paper_answer, store)
    assert setup.template.name == "videollava" and setup.template.source == "evalkit"
    assert setup.answer_prompt["label"] == NOT_PAPER and setup.hint is None
    assert m.cfg.max_new_tokens == 7 and setup.generation["max_new_tokens_source"] == "override"
    assert setup.generation["deviations"] == ["max_new_tokens 7, the paper's code uses 1024"]
    setup = configure_answer(_model(prompt_template="vicuna_v1"), VideoQATask.paper_answer, store)
    assert setup.template.name == "vicuna_v1" and setup.answer_prompt["paper"] is False  # video QA used llava_v1
    setup = configure_answer(_model(prompt_template="videollava_vicuna_v1"), VQAv2Task.paper_answer, store)
    assert setup.template.name == "vicuna_v1" and setup.answer_prompt["paper"] is True  # the old name, same text


def test_without_import_the_doc_format_runs_labelled(tmp_path):
    empty = PromptStore(tmp_path / "empty")
    setup = configure_answer(_model(), VideoQATask.paper_answer, empty)
    assert setup.template.name == "videollava" and setup.answer_prompt["label"] == NOT_PAPER
    assert "evalkit-prompts import" in setup.hint and setup.hint.startswith(NOT_PAPER)
    with pytest.raises(TemplateChoiceError, match="not imported"):
        configure_answer(_model(prompt_template="llava_v1"), VideoQATask.paper_answer, empty)
    with pytest.raises(TemplateChoiceError, match="unknown prompt template"):
        _model(prompt_template="llava_v2")


def test_custom_template_by_name(tmp_path, checkout):
    conv = checkout / "videollava/conversation.py"
    conv.write_text(shaped.CONVERSATION.replace("kindly.", "kindly!"))
    st = PromptStore(tmp_path / "s")
    res = import_paths([conv], st, name="mine")
    assert {r.status for r in res} == {"custom"}
    setup = configure_answer(_model(), VideoQATask.paper_answer, st)
    assert setup.template.name == "videollava"  # an unknown hash is never taken for the paper's
    setup = configure_answer(_model(prompt_template="custom:mine/llava_v1"), VideoQATask.paper_answer, st)
    assert setup.template.source == "custom" and setup.answer_prompt["paper"] is False
    assert setup.template.render("q", "") .endswith("kindly! USER: q ASSISTANT:")


def test_image_padding_follows_each_papers_code(tmp_path):
    from evalkit.config import build_task
    from evalkit.media.image import CLIP_MEAN_RGB, pad_to_square
    from evalkit.runner.loading import load_media
    from evalkit.samples import Sample
    from evalkit.samples import MediaSpec

    assert VQAv2Task.paper_answer.image_pad and MMBenchTask.paper_answer.image_pad
    assert not ScienceQATask.paper_answer.image_pad and not VideoQATask.paper_answer.image_pad
    t = build_task({"adapter": "vqav2", "name": "vqav2", "data_root": str(tmp_path)})
    assert t.media_spec().image_pad and t.protocol()["media"]["image_pad"] is True

    wide = Image.new("RGB", (5, 2), (255, 0, 0))
    sq = pad_to_square(wide)
    assert sq.size == (5, 5)
    rows = [sq.getpixel((2, y)) for y in range(5)]  # offset (5 - 2) // 2 = 1, as LLaVA's expand2square
    assert rows == [CLIP_MEAN_RGB, (255, 0, 0), (255, 0, 0), CLIP_MEAN_RGB, CLIP_MEAN_RGB]
    tall = pad_to_square(Image.new("RGB", (1, 4), (0, 0, 255)))
    assert [tall.getpixel((x, 0)) for x in range(4)] == [CLIP_MEAN_RGB, (0, 0, 255), CLIP_MEAN_RGB, CLIP_MEAN_RGB]
    assert pad_to_square(Image.new("RGB", (3, 3))).size == (3, 3)
    path = tmp_path / "w.png"
    wide.save(path)
    s = Sample("1", "t", "q", ("a",), modality="image", media=(str(path),))
    # the loader hands the image over as it is; padding is the adapter's preprocessing, recorded
    assert load_media(s, MediaSpec(image_pad=True)).media.size == (5, 2)
    m = _model()
    setup = configure_answer(m, VQAv2Task.paper_answer, PromptStore(tmp_path / "empty"))
    assert setup.generation["image_pad"] is True and m.image_for_model(wide).size == (5, 5)
    setup = configure_answer(m, ScienceQATask.paper_answer, PromptStore(tmp_path / "empty"))
    assert setup.generation["image_pad"] is False and m.image_for_model(wide).size == (5, 2)


def _ov(out, store_dir, *extra):
    return ["task=demo_shapes", "run.limit=3", "runner.batch_size=3", "runner.progress=false",
            f"output_dir={out}", "run.name=r", f"prompt_store={store_dir}", *extra]


def test_job_records_answer_and_judge_prompts(compose, tmp_path, checkout):
    store_dir = tmp_path / "store"
    import_paths([checkout], PromptStore(store_dir))
    out = tmp_path / "out"
    with FakeJudgeServer() as server:
        logs: list[str] = []
        run_job(compose(_ov(out, store_dir, "model.prompt_template=null", "judge=gpt35",
                        f"judge.base_url={server.base_url}", "judge.api_key_env=NO_SUCH_VAR")), log=logs.append)
        assert not any("evalkit-prompts import" in ln for ln in logs)  # everything imported: no hint
        assert server.n_requests >= 1
        assert all("temperature" not in r.body and "max_tokens" not in r.body for r in server.requests)
    tdir = out / "r" / "demo_shapes"
    man = json.loads((tdir / "manifest.json").read_text())
    conv = PromptStore(store_dir).get("conv_llava_v1")
    assert man["answer_prompt"]["template"] == "llava_v1" and man["answer_prompt"]["hash"] == conv.sha256
    assert man["answer_prompt"]["paper"] is True and man["protocol"]["answer_prompt"]["source"] == "reference"
    # the demo model config fixes max_new_tokens (8): an override of the paper's 1024, recorded as such
    assert man["generation"]["max_new_tokens"] == 8 and man["generation"]["max_new_tokens_source"] == "override"
    preds = [json.loads(x) for x in (tdir / "predictions.jsonl").read_text().splitlines()]
    assert all(p["prompt"].startswith(SYSTEM_LLAVA + " USER: <video>\n") for p in preds)
    met = json.loads((tdir / "metrics.json").read_text())
    jp = met["judge"]["judge_prompt"]
    assert jp["source"] == "reference" and jp["protocol"] == "video_chatgpt_qa"
    assert jp["hash"] == PromptStore(store_dir).get("video_chatgpt_qa").sha256
    assert jp["reference"]["path"] == "videollava/eval/video/eval_video_qa.py"
    assert met["judge"]["sampling"]["first_request"] == {} and met["judge"]["temperature"] is None
    assert met["answer_prompt"] == man["answer_prompt"] and met["generation"]["temperature"] == 0.0
    report = (tdir / "report.html").read_text()
    assert "judge prompt" in report and "reference prompt (video_chatgpt_qa" in report


def test_job_without_import_says_so_once_and_labels(compose, tmp_path):
    out = tmp_path / "out"
    with FakeJudgeServer() as server:
        logs: list[str] = []
        run_job(compose(_ov(out, tmp_path / "empty", "model.prompt_template=null", "judge=gpt35",
                        f"judge.base_url={server.base_url}", "judge.api_key_env=NO_SUCH_VAR")), log=logs.append)
        hints = [ln for ln in logs if "evalkit-prompts import" in ln]
        assert len(hints) == 2  # one line for the answer prompt, one for the judge prompt
        assert server.requests[0].body["temperature"] == 0.0  # evalkit's wording: the config's settings
    met = json.loads((out / "r" / "demo_shapes" / "metrics.json").read_text())
    assert met["answer_prompt"]["label"] == NOT_PAPER and met["answer_prompt"]["template"] == "videollava"
    assert met["judge"]["judge_prompt"] == {"source": "evalkit", "protocol": "video_chatgpt_qa",
                                            "hash": met["judge"]["prompt_hash"], "reference": None,
                                            "label": "evalkit wording"}
    assert any("evalkit wording" in d for d in met["judge"]["deviations"])


def test_verdicts_made_with_another_prompt_are_never_reused(compose, tmp_path, checkout):
    """A verdict is valid only for the prompt that produced it: after importing the reference prompt,
    every sample is judged again (nothing from evalkit's wording is reused, cache included) and the
    score counts only the new verdicts."""
    out, store_dir = tmp_path / "out", tmp_path / "store"
    with FakeJudgeServer() as server:
        ov = _ov(out, store_dir, "judge=gpt35", f"judge.base_url={server.base_url}", "judge.api_key_env=NO_SUCH_VAR")
        run_job(compose(ov))  # evalkit wording (nothing imported yet)
        n_first = server.n_requests
        import_paths([checkout / "videollava/eval/video/eval_video_qa.py"], PromptStore(store_dir))
        run_job(compose([*ov, "stage=judge"]))
        assert server.n_requests - n_first >= n_first  # every item asked again under the reference prompt
        run_job(compose([*ov, "stage=score"]))
    tdir = out / "r" / "demo_shapes"
    ref_hash = PromptStore(store_dir).get("video_chatgpt_qa").sha256
    lines = [json.loads(x) for x in (tdir / "judgments.jsonl").read_text().splitlines()]
    assert {ln["prompt_hash"] for ln in lines} == {ref_hash, lines[0]["prompt_hash"]} and lines[0]["prompt_hash"] != ref_hash
    met = json.loads((tdir / "metrics.json").read_text())
    assert met["judge"]["prompt_hash"] == ref_hash and met["judge"]["judge_prompt"]["source"] == "reference"
    assert met["judge"]["counts"]["stale"] == 0 and met["judge"]["counts"]["judged"] == met["counts"]["predicted"]
