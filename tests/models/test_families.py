"""LLaVA-NeXT-Video, LLaVA-OneVision and Qwen2.5-VL on tiny random checkpoints built from configs
(evalkit.models.tiny_families; processors with a chat template saved beside them): batch 4 equals
batch 1 greedy on videos and images, the checkpoint's chat template is the recorded answer prompt,
and each family runs `evalkit task=msvd_qa model=<family> model.pretrained=<tiny>` and an image task
in-process (evalkit.api, the overrides the command takes), with resume and per-sample errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from evalkit.models.base import GenerationInput
from evalkit.models.tiny_families import FAMILIES, build_tiny_family
from evalkit.prompts.answer import configure_answer
from tests._data import QUESTIONS, write_video_qa
from tests._image_data import write_vqav2


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {f: build_tiny_family(f, root / f, corpus=QUESTIONS, seed=0) for f in FAMILIES}


def _store(tmp_path):
    from evalkit.prompts.store import PromptStore

    return PromptStore(tmp_path / "store")


def _adapter(family, ckpt, paper, tmp_path):
    from evalkit.config import build_model

    m = build_model({"adapter": family, "name": family, "pretrained": str(ckpt), "max_new_tokens": 6})
    setup = configure_answer(m, paper, _store(tmp_path))
    m.load()
    return m, setup


@pytest.mark.parametrize("family", FAMILIES)
def test_batch_4_equals_batch_1_and_the_checkpoint_template_is_recorded(family, ckpts, tmp_path):
    from evalkit.tasks.image.vqav2 import VQAv2Task
    from evalkit.tasks.video_qa import VideoQATask

    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 255, (4, 40, 48, 3), dtype=np.uint8) for _ in range(2)]
    images = [Image.fromarray(rng.integers(0, 255, (30 + 10 * i, 50, 3), dtype=np.uint8)) for i in range(2)]
    qs = QUESTIONS[:4]
    m, setup = _adapter(family, ckpts[family], VideoQATask.paper_answer, tmp_path)
    record = setup.answer_prompt
    assert record["source"] == "checkpoint" and record["paper"] is False
    assert record["hash"] == hashlib.sha256(m.processor.chat_template.encode()).hexdigest()
    vid = [GenerationInput(f"v{i}", q, "video", videos[i % 2], frame_indices=[0, 3, 6, 9], video_fps=5.0)
           for i, q in enumerate(qs)]
    together = m.generate(vid)
    assert together == [m.generate([x])[0] for x in vid] and len(set(together)) > 1
    # images: the family's processor owns the aspect ratio, so the paper's square padding is declined, with why
    setup = configure_answer(m, VQAv2Task.paper_answer, _store(tmp_path))
    assert setup.generation["image_pad"] is False and "aspect ratio" in setup.generation["image_pad_note"]
    img = [GenerationInput(f"i{i}", q, "image", images[i % 2]) for i, q in enumerate(qs)]
    assert m.generate(img) == [m.generate([x])[0] for x in img]
    # questions the runner marked as sharing a medium: the shared path where declared, equal outputs
    shared = [GenerationInput(x.sample_id, x.text, x.modality, x.media, share_key=f"{x.modality}{i % 2}",
                              frame_indices=x.frame_indices, video_fps=x.video_fps) for i, x in enumerate(vid + img)]
    assert m.generate(shared) == together + [m.generate([x])[0] for x in img]
    d, stats = m.describe(), m.sharing_stats()
    if family == "qwen2_5_vl":  # M-RoPE: declared unsupported, the fallback counted with its reason
        assert d["shared_prefix"]["supported"] is False and "M-RoPE" in d["shared_prefix"]["fallback"]
        assert stats["rows"] == 0 and stats["fallback_batches"] == 1
    else:  # videos shared exactly; any-resolution images fall back, counted
        assert d["shared_prefix"]["supported"] is True
        assert stats["rows"] == 0 and stats["fallback_batches"] == 1  # a mixed batch with tiled images
        assert m.generate(shared[:4]) == together and m.sharing_stats()["rows"] == 4
        assert m.sharing_stats()["prefills"] == 2
    assert d["local_checkpoint"]["fingerprint"] and d["padding_side"] == "left"


def test_qwen_gets_the_frames_real_rate_and_refuses_an_unknown_one(ckpts, tmp_path):
    from evalkit.models.hf_chat import sampled_fps
    from evalkit.tasks.video_qa import VideoQATask

    m, _ = _adapter("qwen2_5_vl", ckpts["qwen2_5_vl"], VideoQATask.paper_answer, tmp_path)
    frames = np.random.default_rng(1).integers(0, 255, (4, 40, 48, 3), dtype=np.uint8)
    x = GenerationInput("a", "what colour ?", "video", frames, frame_indices=[0, 10, 20, 30], video_fps=25.0)
    assert sampled_fps(x) == pytest.approx(2.5)  # 3 gaps over 1.2 s
    assert m.video_kwargs([x]) == {"video_metadata": [{"total_num_frames": 4, "fps": pytest.approx(2.5)}]}
    with pytest.raises(ValueError, match="sample b: the video's frame rate is unknown"):
        m.generate([GenerationInput("b", "what colour ?", "video", frames, frame_indices=[0, 1, 2, 3])])
    # the shared path continues 1-D positions: it refuses M-RoPE rather than share approximately
    from evalkit.models.shared_prefix import NotShareable, Row, SharedPrefixGenerator

    gen = SharedPrefixGenerator(m.model, m.processor, m.device, m.dtype)
    with pytest.raises(NotShareable, match="M-RoPE"):
        gen.generate([Row(m.prompt_for(x), "video", frames, "k")], m.gen_kwargs())


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_each_family_runs_msvd_qa_and_an_image_task_through_the_evalkit_overrides(ckpts, tmp_path):
    from evalkit.api import evaluate
    from evalkit.errors import EvalFailure

    video = write_video_qa(tmp_path / "msvd", n=5)
    (video / "videos" / "vid002.mp4").write_bytes(b"")  # one broken video: that sample's error, no one else's
    vqa = write_vqav2(tmp_path / "vqav2", n=4)["root"]
    for family in FAMILIES:
        out = tmp_path / family
        common = [f"model={family}", f"model.pretrained={ckpts[family]}", "model.max_new_tokens=5",
                  "model.num_frames=4", f"output_dir={out}", "run.name=r", "runner.progress=false"]
        video_args = ["task=msvd_qa", f"task.data_root={video}", "runner.batch_size=4", "run.max_error_rate=0.5",
                      *common]
        evaluate([*video_args, "run.limit=3"], log=lambda _m: None)  # then resume to 5
        evaluate(video_args, log=lambda _m: None)
        tdir = out / "r" / "msvd_qa"
        recs = {r["id"]: r for r in _lines(tdir / "predictions.jsonl")}
        assert len(recs) == 5 == len(_lines(tdir / "predictions.jsonl")), family  # resumed, nothing twice
        assert "empty" in recs["q2"]["error"] and all("pred" in recs[i] for i in ("q0", "q1", "q3", "q4"))
        assert all(len(r["frame_indices"]) == 4 for r in recs.values() if "pred" in r)  # model.num_frames
        manifest = json.loads((tdir / "manifest.json").read_text())
        assert manifest["answer_prompt"]["template"] == f"{family} chat template", family
        assert manifest["answer_prompt"]["source"] == "checkpoint" and manifest["answer_prompt"]["paper"] is False
        sharing = manifest["stages"]["predict"]["prefix_sharing"]
        if family == "qwen2_5_vl":  # declared unsupported (M-RoPE): every marked batch fell back, counted
            assert manifest["model"]["shared_prefix"]["supported"] is False and sharing["fallback_batches"] > 0
        else:  # the videos' questions went through the exact shared path
            assert manifest["model"]["shared_prefix"]["supported"] is True and sharing["rows"] > 0, sharing
        evaluate(["task=vqav2", f"task.data_root={vqa}", "task.question_jsonl=llava_vqav2_mscoco_val2014.jsonl",
                  "task.image_dir=val2014", "task.annotation_file=v2_mscoco_val2014_annotations.json",
                  "task.split=val2014", "runner.batch_size=4", *common], log=lambda _m: None)
        recs = _lines(out / "r" / "vqav2" / "predictions.jsonl")
        assert len(recs) == 4 and all("pred" in r for r in recs), family
    with pytest.raises(EvalFailure):  # the error threshold still applies to these families
        evaluate(["task=msvd_qa", f"task.data_root={video}", "model=qwen2_5_vl",
                  f"model.pretrained={ckpts['qwen2_5_vl']}", "model.max_new_tokens=2", "model.num_frames=2",
                  f"output_dir={tmp_path / 'strict'}", "runner.progress=false"], log=lambda _m: None)


def test_the_leaderboard_names_where_family_protocols_differ():
    from evalkit.analysis.comparability import NOT, RunProtocol, between_runs

    llava = RunProtocol(task="vqav2", video=False, template="vicuna_v1", template_source="reference",
                        template_hash="a", image_pad=True)
    qwen = RunProtocol(task="vqav2", video=False, template="qwen2_5_vl chat template",
                       template_source="checkpoint", template_hash="b", image_pad=False)
    verdict = between_runs(llava, qwen)
    assert verdict.level == NOT
    assert "image padding to a square False vs True" in verdict.reasons
    assert any(r.startswith("prompt differs: qwen2_5_vl chat template (checkpoint)") for r in verdict.reasons)


def test_a_checkpoint_without_a_chat_template_is_one_clear_line(ckpts, tmp_path):
    import shutil

    from evalkit.config import build_model
    from evalkit.errors import ConfigError

    bare = shutil.copytree(ckpts["llava_onevision"], tmp_path / "bare")
    for p in bare.glob("chat_template*"):
        p.unlink()
    m = build_model({"adapter": "llava_onevision", "name": "x", "pretrained": str(bare)})
    with pytest.raises(ConfigError, match="its processor has no chat template"):
        configure_answer(m, None, _store(tmp_path))
