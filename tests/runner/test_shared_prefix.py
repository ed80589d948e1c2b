"""Shared-video inference: grouping, decode once, prefill once -- and exactly the per-question outputs.

The checkpoint is a tiny fp32 Video-LLaVA whose weights are drawn with a large std, so its greedy
output depends on the question (with the default init most prompts give the same few tokens and an
exactness test could not fail).  Every comparison runs the real runner with the real adapter.
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evalkit.media.synth import write_video
from evalkit.models.base import GenerationInput
from evalkit.models.videollava import VideoLlavaAdapter, VideoLlavaConfig
from evalkit.runner.grouping import assign_groups, group_key, group_samples, rank_samples
from evalkit.runner.loading import LoadedSample
from evalkit.runner.runner import Runner, RunnerConfig
from evalkit.runner.shared_media import SharedMediaLoader
from evalkit.store import PredictionStore
from evalkit.runner.threads import plan_threads
from evalkit.samples import Sample
from evalkit.samples import MediaSpec
from tests._crashing import Crash, CrashingAdapter
from tests._data import QUESTIONS

# questions of very different lengths (1 word ... 30 words)
QS = [QUESTIONS[i] for i in (0, 1, 2, 3, 4, 6, 7)]
NEW_TOKENS = 6


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    from evalkit.models.tiny import TinySpec, build_tiny_videollava
    from tests._image_data import QUESTIONS as IMAGE_QUESTIONS

    return build_tiny_videollava(tmp_path_factory.mktemp("sens_ckpt"), corpus=[*QUESTIONS, *IMAGE_QUESTIONS],
                                 spec=TinySpec(init_std=0.2), seed=0)


def _adapter(ckpt, template="videollava", cls=VideoLlavaAdapter):
    m = cls(VideoLlavaConfig(pretrained=str(ckpt), max_new_tokens=NEW_TOKENS, prompt_template=template))
    m.load()
    return m


@pytest.fixture(scope="module")
def model(ckpt):
    return _adapter(ckpt)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[Sample]:
    """5 videos with 7, 1, 5, 3 and 1 questions (ids interleave across videos)."""
    d = tmp_path_factory.mktemp("shared_videos")
    samples = []
    for v, nq in enumerate([7, 1, 5, 3, 1]):
        path = write_video(d / f"v{v}.mp4", 9 + 4 * v, width=48, height=40)
        for q in range(nq):
            samples.append(Sample(id=f"q{q:02d}v{v}", task="t", question=QS[(q + 2 * v) % len(QS)],
                                  answers=("a",), media=(str(path),)))
    return samples


def _run(model, samples, tmp_path, name, **cfg):
    store = PredictionStore(tmp_path / f"{name}.jsonl")
    stats = Runner(model, RunnerConfig(progress=False, **cfg)).run(samples, MediaSpec(), store)
    return {r["id"]: r for r in store.records()}, stats


def _preds(records):
    return {k: r.get("pred") for k, r in records.items()}


@pytest.fixture(scope="module")
def reference(model, videos, tmp_path_factory):
    """Each question alone: per-question path at batch 1."""
    recs, _ = _run(model, videos, tmp_path_factory.mktemp("ref"), "ref", batch_size=1, share_prefix=False)
    return _preds(recs)


def test_reference_depends_on_the_question(reference, videos):
    # otherwise the exactness tests below could not fail
    assert len(set(reference.values())) >= len(videos) - 2
    assert all(reference.values())


@pytest.mark.parametrize("bs", [1, 3, 16])
def test_shared_prefix_equals_per_question(model, videos, reference, tmp_path, bs):
    """bs 1: one row per batch (prefix reused across batches); 3: batches mix groups and the 7- and
    5-question groups span batches; 16: groups of 1 to 7 questions in one batch."""
    recs, stats = _run(model, videos, tmp_path, "shared", batch_size=bs, share_prefix=True)
    assert _preds(recs) == reference
    sharing = stats.prefix_sharing
    assert sharing["rows"] == len(videos) and sharing["fallback_batches"] == 0
    assert sharing["prefills"] == 5  # one per video, whatever the batch size
    assert stats.media_groups == 5 and stats.media_decoded == 5
    # records are per sample, as before: frame indices, the full prompt
    assert all(len(r["frame_indices"]) == 8 and r["prompt"].startswith("USER: <video>\n") for r in recs.values())


def test_per_question_path_batched_equals_alone(model, videos, reference, tmp_path):
    recs, stats = _run(model, videos, tmp_path, "pq", batch_size=4, share_prefix=False)
    assert _preds(recs) == reference and stats.prefix_sharing is None
    assert stats.media_decoded == 5  # decoding is shared either way


def test_template_with_system_sentence(ckpt, videos, tmp_path):
    """A template with text in front of USER: (as the paper's llava_v1 / vicuna_v1 conversations have,
    imported at run time; here a template of the same shape with this test's own sentence)."""
    from evalkit.prompts.conversation import ChatTemplate
    from evalkit.prompts.answer import AnswerSetup

    m = _adapter(ckpt)
    m.set_answer_setup(AnswerSetup(ChatTemplate("system_sentence", "A chat between a test user and a model. USER: ",
                                                " ASSISTANT:", "0" * 64, "custom"), {}, {}))
    alone, _ = _run(m, videos, tmp_path, "alone", batch_size=1, share_prefix=False)
    shared, stats = _run(m, videos, tmp_path, "shared", batch_size=4, share_prefix=True)
    assert _preds(shared) == _preds(alone)
    assert stats.prefix_sharing["prefills"] == 5 and stats.prefix_sharing["fallback_batches"] == 0
    assert next(iter(shared.values()))["prompt"].startswith("A chat between")


def test_image_task(model, tmp_path):
    from tests._image_data import QUESTIONS as IQ
    from tests._image_data import make_image

    samples = []
    for i, nq in enumerate([4, 1, 3]):
        path = make_image(tmp_path / f"img{i}.jpg", seed=i)
        for q in range(nq):
            samples.append(Sample(id=f"i{i}q{q}", task="t", question=IQ[(q + i) % len(IQ)], answers=("a",),
                                  modality="image", media=(str(path),)))
    alone, _ = _run(model, samples, tmp_path, "alone", batch_size=1, share_prefix=False)
    assert len(set(_preds(alone).values())) >= 4
    for bs in (2, 8):
        shared, stats = _run(model, samples, tmp_path, f"shared{bs}", batch_size=bs, share_prefix=True)
        assert _preds(shared) == _preds(alone)
        assert stats.prefix_sharing["prefills"] == 3 and stats.media_decoded == 3


def test_resume_mid_group(ckpt, videos, reference, tmp_path):
    m = _adapter(ckpt, cls=CrashingAdapter)
    m.batches_left, m.generated = 1, []
    with pytest.raises(Crash):
        _run(m, videos, tmp_path, "p", batch_size=3, share_prefix=True)
    first = {r["id"] for r in PredictionStore(tmp_path / "p.jsonl").records()}
    assert len(first) == 3  # the first batch: 3 of the 7 questions of the first video
    assert len({group_key(s) for s in videos if s.id in first}) == 1
    m.batches_left = 1000
    recs, stats = _run(m, videos, tmp_path, "p", batch_size=3, share_prefix=True)
    assert stats.skipped == 3 and stats.predicted == len(videos) - 3
    assert _preds(recs) == reference
    assert sorted(m.generated) == sorted(s.id for s in videos)  # nothing generated twice


def test_errored_video_inside_group(model, videos, reference, tmp_path):
    """The 5-question video is unreadable: its five questions become error records naming the file,
    every other question (in the same batches) is predicted exactly."""
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 4096)
    broken_key = group_key(next(s for s in videos if s.id.endswith("v2")))
    samples = [Sample(s.id, s.task, s.question, s.answers, media=(str(bad),)) if group_key(s) == broken_key else s
               for s in videos]
    recs, stats = _run(model, samples, tmp_path, "p", batch_size=4, share_prefix=True)
    errs = {k for k, r in recs.items() if "error" in r}
    assert errs == {s.id for s in samples if s.media == (str(bad),)} and len(errs) == 5
    assert all("broken.mp4" in recs[k]["error"] and "pred" not in recs[k] for k in errs)
    assert {k: v for k, v in _preds(recs).items() if k not in errs} == \
        {k: v for k, v in reference.items() if k not in errs}
    assert stats.errors == 5 and stats.prefix_sharing["prefills"] == 4


class _OneBadRow(VideoLlavaAdapter):
    """Generation fails for batches holding one particular sample (a bad prompt, an OOM...)."""

    bad_id = ""

    def generate(self, batch):
        if any(x.sample_id == self.bad_id for x in batch):
            raise RuntimeError("boom")
        return super().generate(batch)


def test_generation_error_isolated_within_group(ckpt, videos, reference, tmp_path):
    m = _adapter(ckpt, cls=_OneBadRow)
    m.bad_id = "q01v0"
    recs, stats = _run(m, videos, tmp_path, "p", batch_size=4, share_prefix=True)
    assert "boom" in recs["q01v0"]["error"] and stats.errors == 1
    assert {k: v for k, v in _preds(recs).items() if k != "q01v0"} == \
        {k: v for k, v in reference.items() if k != "q01v0"}


def test_fallback_when_tokenization_disagrees(model, videos, reference, tmp_path, monkeypatch):
    """If the placeholder expansion ever differed from the processor's, the batch takes the
    per-question path (counted), never a wrong shared prefix."""
    sharing = model.sharing
    real = sharing._expand
    monkeypatch.setattr(sharing, "_expand", lambda rows, reps: [ids + [0] for ids in real(rows, reps)])
    sharing.clear()
    recs, stats = _run(model, videos[:8], tmp_path, "p", batch_size=4, share_prefix=True)
    monkeypatch.undo()
    sharing.clear()
    assert _preds(recs) == {s.id: reference[s.id] for s in videos[:8]}
    assert stats.prefix_sharing["fallback_batches"] == 2 and stats.prefix_sharing["rows"] == 0


def test_full_prompt_ids_equal_the_processors(model, videos):
    """Step 1 of the mechanism: ids from the processor's own expansion equal processor(text, videos)."""
    import numpy as np

    from evalkit.models.shared_prefix import Row

    frames = np.random.default_rng(0).integers(0, 255, (8, 40, 48, 3), dtype=np.uint8)
    prompts = [model.prompt_for(GenerationInput("x", q, "video", frames)) for q in QS]
    rows = [Row(p, "video", frames, "k") for p in prompts]
    _, replacement, _ = model.sharing._process_one(rows[0])
    mine = model.sharing._expand(rows, [replacement] * len(rows))
    alone = [model.processor(text=[p], videos=[frames])["input_ids"][0].tolist() for p in prompts]
    assert mine == alone
    batched = model.processor(text=prompts, videos=[frames] * len(prompts), padding=True)  # left-padded
    assert [row[-len(ids):].tolist() for row, ids in zip(batched["input_ids"], mine)] == mine


# ---- grouping, sharding, decode-once, threads ---------------------------------------------------

def _s(i, media=("a.mp4",), modality="video"):
    return Sample(id=i, task="t", question="q", answers=("a",), modality=modality, media=media)


def test_grouping_order_and_keys():
    samples = [_s("b2", ("x/../b.mp4",)), _s("a1", ("a.mp4",)), _s("b1", ("b.mp4",)), _s("a0", ("a.mp4",)),
               _s("t", (), "text"), _s("u", (), "text"), _s("m", ("a.mp4", "b.mp4")), _s("i", ("a.mp4",), "image")]
    groups = group_samples(samples)
    assert [[s.id for s in g.samples] for g in groups] == [["a0", "a1"], ["b1", "b2"], ["i"], ["m"], ["t"], ["u"]]
    # the same file as an image is another medium; text-only and multi-file samples stand alone
    assert group_key(_s("i", ("a.mp4",), "image")) != group_key(_s("v", ("a.mp4",)))


def test_sharding_keeps_groups_whole_and_is_deterministic():
    import random

    samples = [_s(f"{v:02d}-{q}", (f"v{v}.mp4",)) for v in range(23) for q in range(1 + (v * 7) % 9)]
    shuffled = random.Random(1).sample(samples, len(samples))
    for n in (1, 2, 3, 8):
        ranks = [rank_samples(shuffled, r, n) for r in range(n)]
        assert ranks == [rank_samples(samples, r, n) for r in range(n)]  # input order does not matter
        ids = [s.id for r in ranks for s in r]
        assert sorted(ids) == sorted(s.id for s in samples) and len(ids) == len(set(ids))
        owners = {}
        for r, mine in enumerate(ranks):
            for s in mine:
                assert owners.setdefault(group_key(s), r) == r  # a group never split
        sizes = [len(r) for r in ranks]
        assert max(sizes) - min(sizes) <= 9  # within one group's size


def test_assign_groups_balance_ties_to_lowest_rank():
    groups = group_samples([_s("a", ("1",)), _s("b", ("2",)), _s("c", ("2",)), _s("d", ("3",))])
    assert [[g.key for g in r] for r in assign_groups(groups, 2)] == [["video:1", "video:3"], ["video:2"]]


def test_decode_once_per_group_and_memory_bounded():
    """Batch size 1 with prefetch: each medium is decoded once; frames are dropped once handed out."""
    calls = Counter()

    def load(s):
        calls[group_key(s)] += 1
        return LoadedSample(s, media=object(), frame_indices=[0])

    samples = [_s(f"{v}-{q}", (f"v{v}.mp4",)) for v in range(4) for q in range(5)]
    with ThreadPoolExecutor(2) as pool:
        loader = SharedMediaLoader(pool, load, samples)
        window = [loader.submit(s) for s in samples[:3]]
        results = []
        for s in samples[3:]:
            results.append(window.pop(0).result())
            window.append(loader.submit(s))
            assert loader.held <= 2  # groups in the window, not the run
        results += [p.result() for p in window]
    assert all(c == 1 for c in calls.values()) and len(calls) == 4
    assert loader.decodes == 4 and loader.held == 0
    assert [r.sample.id for r in results] == [s.id for s in samples]
    assert len({id(r.media) for r in results}) == 4  # one frame array per video, shared


def test_thread_plan_fits_the_host():
    # model on this CPU: the cores are split, never oversubscribed
    cpu = plan_threads(None, model_on_cpu=True, cores=2)
    assert (cpu.decode_workers, cpu.decoder_threads, cpu.torch_threads, cpu.prefetch_batches) == (1, False, 1, 2)
    assert plan_threads(None, model_on_cpu=True, cores=16).torch_threads == 15
    assert plan_threads(None, model_on_cpu=True, cores=1).prefetch_batches == 0  # nothing to overlap with
    # model on a GPU/endpoint: decode workers scale with the cores, enough batches ahead to feed them
    gpu = plan_threads(None, model_on_cpu=False, cores=16, batch_size=4)
    assert (gpu.decode_workers, gpu.decoder_threads, gpu.torch_threads, gpu.prefetch_batches) == (15, False, None, 4)
    assert plan_threads(None, model_on_cpu=False, cores=2).decode_workers == 1
    assert plan_threads(None, model_on_cpu=False, cores=256, batch_size=64).decode_workers == 32
    assert plan_threads(None, model_on_cpu=False, cores=16, prefetch_batches=0).prefetch_batches == 0
    explicit = plan_threads(4, model_on_cpu=True, cores=16)
    assert (explicit.decode_workers, explicit.torch_threads, explicit.source) == (4, 12, "runner.num_workers")
    with pytest.raises(ValueError, match="num_workers"):
        plan_threads(0, model_on_cpu=True, cores=2)


def test_runner_applies_and_restores_torch_threads(model, videos, tmp_path):
    import torch

    before = torch.get_num_threads()
    _, stats = _run(model, videos[:2], tmp_path, "p", batch_size=2)
    assert stats.threads["torch_threads"] == max(1, stats.threads["cores"] - 1)
    assert torch.get_num_threads() == before


def test_job_records_sharing_and_threads_in_manifest(compose, ckpt, tmp_path):
    from tests._data import write_video_qa

    data = write_video_qa(tmp_path / "data", n=6)
    # two more questions about vid000 (the layout allows repeated video names)
    qs = json.loads((data / "test_q.json").read_text())
    ans = json.loads((data / "test_a.json").read_text())
    for k in (6, 7):
        qs.append({"video_name": "vid000", "question": QS[k - 2], "question_id": f"q{k}"})
        ans.append({"answer": "yes", "type": "yn", "question_id": f"q{k}"})
    (data / "test_q.json").write_text(json.dumps(qs))
    (data / "test_a.json").write_text(json.dumps(ans))
    from evalkit.api import run as run_job

    ov = ["task=demo_shapes", f"task.data_root={data}", "model=tiny_demo_trained", f"model.pretrained={ckpt}",
          "model.max_new_tokens=4", f"output_dir={tmp_path / 'out'}", "run.name=r", "runner.progress=false",
          "runner.batch_size=3", "run.max_error_rate=1.0"]
    run_job(compose(ov))
    tdir = tmp_path / "out" / "r" / "demo_shapes"
    man = json.loads((tdir / "manifest.json").read_text())
    stage = man["stages"]["predict"]
    assert stage["runner"]["share_prefix"] is True and stage["runner"]["num_workers"] is None
    assert stage["threads"]["decode_workers"] == 1 and stage["threads"]["model_on_cpu"] is True
    assert stage["threads"]["torch_threads"] >= 1 and stage["threads"]["source"] == "auto"
    assert stage["media_groups"] == 6 and stage["media_decoded"] == 6
    assert stage["prefix_sharing"]["prefills"] == 6 and stage["prefix_sharing"]["rows"] == 8
    assert man["model"]["shared_prefix"]["supported"] is True
    run_job(compose(ov + ["runner.share_prefix=false", "run.name=off"]))
    off = {json.loads(x)["id"]: json.loads(x)["pred"]
           for x in (tmp_path / "out" / "off" / "demo_shapes" / "predictions.jsonl").read_text().splitlines()}
    on = {json.loads(x)["id"]: json.loads(x)["pred"] for x in (tdir / "predictions.jsonl").read_text().splitlines()}
    assert on == off and len(on) == 8


def test_reference_video_preprocess_is_used_shared_and_exact(ckpt, videos, tmp_path):
    """model.video_preprocess=reference: the original transform makes the pixels (not transformers'
    processor), every question of a video sees the same clip, and sharing stays exact."""
    import numpy as np

    from evalkit.models.reference_video import ReferenceVideoProcessor, flip_for, reference_clip

    m = VideoLlavaAdapter(VideoLlavaConfig(pretrained=str(ckpt), max_new_tokens=NEW_TOKENS,
                                           prompt_template="videollava", video_preprocess="reference"))
    m.seed = 3
    m.load()
    assert isinstance(m.processor.video_processor, ReferenceVideoProcessor) and m.samples()
    assert m.describe()["video_preprocess"]["mode"] == "reference"
    frames = np.random.default_rng(0).integers(0, 256, size=(8, 40, 48, 3), dtype=np.uint8)
    size = m.processor.video_processor.size
    got = m.processor(text=["USER: <video>\nq ASSISTANT:"], videos=[frames], return_tensors="pt")
    assert torch_equal(got["pixel_values_videos"][0], reference_clip(frames, size, flip_for(frames, 3)))
    hf = _adapter(ckpt).processor(text=["USER: <video>\nq ASSISTANT:"], videos=[frames], return_tensors="pt")
    assert got["input_ids"].tolist() == hf["input_ids"].tolist()  # same tokens, other pixels
    assert not torch_equal(got["pixel_values_videos"], hf["pixel_values_videos"])
    alone, _ = _run(m, videos, tmp_path, "ref_alone", batch_size=1, share_prefix=False)
    shared, stats = _run(m, videos, tmp_path, "ref_shared", batch_size=3, share_prefix=True)
    assert _preds(shared) == _preds(alone) and stats.prefix_sharing["fallback_batches"] == 0


def torch_equal(a, b) -> bool:
    import torch

    return a.shape == b.shape and bool(torch.equal(a.float(), b.float()))
