"""GPU check of shared-video inference at Video-LLaVA-7B's real size (random weights, no download).

Builds ``VideoLlavaForConditionalGeneration`` with the exact architecture of
LanguageBind/Video-LLaVA-7B-hf (``bench/video_llava_7b_architecture.json``: Vicuna-7B language model,
two CLIP ViT-L/14 towers), randomly initialised on the GPU in fp16, and an offline word-level
tokenizer with the real vocabulary size (32,000 words + ``<image>`` 32000, ``<video>`` 32001,
``<pad>``; 32,064 embedding rows) inside a real ``VideoLlavaProcessor`` (224-px CLIP preprocessing).
Random weights may emit EOS at any step, so every question generates exactly
``--new-tokens`` tokens (``min_new_tokens = max_new_tokens``).

Through the real runner (decoding of generated H.264 clips included), on an MSVD-shaped set
(``--videos`` x ``--questions``), for batch sizes 1/8/16/32, with and without
``runner.share_prefix``, then with in-flight refill (``runner.refill=true``, shared) at each batch
size above 1, then with ``runner.batch_size=auto`` (the memory probe on the longest prompt: the
probes and the size found are printed), it prints samples/s, peak GPU memory, and the agreement of
the fp16 greedy outputs (share vs per-question at the same batch size; batch N vs batch 1 per path;
refill and auto vs per-question batch 1).  With ``--new-tokens`` fixed for every row, refill has
no rows ending early to replace: its figure here is its overhead, not its gain (bench_refill.py).

    python bench/gpu_check.py                       # on a GPU: a few minutes on an H200
    python bench/gpu_check.py --json $OUT/gpu_check.json
    python bench/gpu_check.py --tiny                # CPU smoke test of this script at toy size
    python bench/gpu_check.py --family qwen2_5_vl   # another family at its real size (see below)

``--family llava_next_video | llava_onevision | qwen2_5_vl`` builds that family instead, from
``bench/<family>_7b_architecture.json`` (``--tiny``: evalkit.models.tiny_families' toy size), through
evalkit's own adapter for it, with the frame count of its preset (``configs/model/<family>.yaml``).
LLaVA-NeXT-Video and LLaVA-OneVision share video prefixes exactly (as Video-LLaVA); Qwen2.5-VL
declares no shared path (M-RoPE), so its ``share_prefix`` rows run the per-question path (the
run's fallback counter says so) and the script prints the reason instead of a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evalkit.models.tiny import BASE_WORDS  # noqa: E402
from evalkit.models.videollava import VideoLlavaAdapter, VideoLlavaConfig  # noqa: E402
from evalkit.runner.runner import Runner, RunnerConfig  # noqa: E402
from evalkit.store import PredictionStore  # noqa: E402
from evalkit.samples import MediaSpec  # noqa: E402
from bench.bench_shared_prefix import QUESTIONS, make_set  # noqa: E402  (the same clips and questions)

ARCH = Path(__file__).with_name("video_llava_7b_architecture.json")
# --tiny: the same structure at toy size, so the script's CPU path can be exercised anywhere.
TINY = {"text_config": {"vocab_size": 640, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                        "num_attention_heads": 4, "num_key_value_heads": 4},
        "vision_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "image_size": 56, "patch_size": 14, "projection_dim": 64},
        "image_token_index": 600, "video_token_index": 601}


def architecture(tiny: bool) -> dict:
    cfg = json.loads(ARCH.read_text())["config"]
    if tiny:
        for k, v in TINY.items():
            cfg[k] = {**cfg[k], **v} if isinstance(v, dict) else v
        cfg["text_config"]["pad_token_id"] = 602
    return cfg


def build_tokenizer(words: int, image_id: int, video_id: int, pad_id: int):
    """Word-level tokenizer: <unk> <s> </s>, ``words`` - 3 words (the prompt vocabulary, then
    fillers), then <image>, <video>, <pad> at the given ids (the real checkpoint's layout)."""
    import re

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for text in (BASE_WORDS, *QUESTIONS):
        for w in re.findall(r"\w+|[^\w\s]+", text):
            vocab.setdefault(w, len(vocab))
    i = 0
    while len(vocab) < words:
        vocab.setdefault(f"w{i}", len(vocab))
        i += 1
    for tok, idx in (("<image>", image_id), ("<video>", video_id), ("<pad>", pad_id)):
        assert idx >= len(vocab) or vocab.get(tok) == idx, (tok, idx)
        vocab[tok] = idx
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    core.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", padding_side="left",
                                   extra_special_tokens={"image_token": "<image>", "video_token": "<video>"})


def build_processor(cfg: dict):
    from transformers import VideoLlavaImageProcessor, VideoLlavaProcessor, VideoLlavaVideoProcessor

    size = cfg["vision_config"]["image_size"]
    tok = build_tokenizer(cfg["image_token_index"], cfg["image_token_index"], cfg["video_token_index"],
                          cfg["text_config"]["pad_token_id"])
    return VideoLlavaProcessor(
        image_processor=VideoLlavaImageProcessor(size={"shortest_edge": size},
                                                 crop_size={"height": size, "width": size}),
        video_processor=VideoLlavaVideoProcessor(size={"shortest_edge": size},
                                                 crop_size={"height": size, "width": size}),
        tokenizer=tok, patch_size=cfg["vision_config"]["patch_size"], vision_feature_select_strategy="default")


def build_model(cfg: dict, device, dtype, init_std=None):
    """Random init directly on ``device`` (a 7B model initialised on the CPU would take minutes);
    ``init_std`` redraws every weight matrix with that std (outputs then depend more on the input)."""
    import torch
    from transformers import VideoLlavaConfig, VideoLlavaForConditionalGeneration

    config = VideoLlavaConfig(**cfg)
    torch.manual_seed(0)
    with torch.device(device):
        model = VideoLlavaForConditionalGeneration._from_config(config, dtype=dtype)
    if init_std is not None:
        with torch.no_grad():
            for param in model.parameters():
                if param.ndim >= 2:
                    param.normal_(0.0, init_std)
    model.generation_config.pad_token_id = cfg["text_config"]["pad_token_id"]
    model.generation_config.eos_token_id = cfg["text_config"]["eos_token_id"]
    model.generation_config.bos_token_id = cfg["text_config"]["bos_token_id"]
    return model.eval()


class FixedLengthAdapter(VideoLlavaAdapter):
    """The real adapter on a prebuilt model, generating exactly ``max_new_tokens`` tokens."""

    def gen_kwargs(self):
        return {**super().gen_kwargs(), "min_new_tokens": self.cfg.max_new_tokens}


FAMILY_NAMES = ("video_llava", "llava_next_video", "llava_onevision", "qwen2_5_vl")


def video_llava_adapter(args, device, dtype):
    """(adapter, parameters, what, MediaSpec): Video-LLaVA-7B's architecture (or --tiny)."""
    cfg = architecture(args.tiny)
    init_std = args.init_std if args.init_std is not None else (0.2 if args.tiny else None)
    model = build_model(cfg, device, dtype, init_std)
    adapter = FixedLengthAdapter(VideoLlavaConfig(pretrained="random-init", max_new_tokens=args.new_tokens,
                                                  dtype=str(dtype).replace("torch.", "")))
    adapter.attach(model, build_processor(cfg), device, dtype)
    return adapter, sum(p.numel() for p in model.parameters()), "Video-LLaVA-7B architecture", MediaSpec()


def family_adapter(family, args, device, dtype):
    """(adapter, parameters, what, MediaSpec) for a chat-template family, random at its real size."""
    from omegaconf import OmegaConf

    from evalkit.models.base import MODELS
    from evalkit.models.hf_chat import HFChatConfig
    from evalkit.models.tiny_families import (TINY_ARCHITECTURES, build_family_model, build_family_processor,
                                              build_family_tokenizer)

    arch = (TINY_ARCHITECTURES[family] if args.tiny
            else json.loads(Path(__file__).with_name(f"{family}_7b_architecture.json").read_text()))
    tokenizer = build_family_tokenizer(family, QUESTIONS)
    init_std = args.init_std if args.init_std is not None else (0.2 if args.tiny else None)
    model = build_family_model(family, arch, tokenizer, init_std=init_std, dtype=dtype, device=device)
    cls = MODELS.get(family)
    fixed = type(f"FixedLength{cls.__name__}", (cls,), {
        "gen_kwargs": lambda self: {**cls.gen_kwargs(self), "min_new_tokens": self.cfg.max_new_tokens}})
    adapter = fixed(HFChatConfig(pretrained="random-init", max_new_tokens=args.new_tokens,
                                 dtype=str(dtype).replace("torch.", "")))
    adapter.attach(model, build_family_processor(family, arch, tokenizer), device, dtype)
    frames = OmegaConf.load(ROOT / "configs" / "model" / f"{family}.yaml").get("num_frames") or 8
    return (adapter, sum(p.numel() for p in model.parameters()), f"{family} 7B architecture",
            MediaSpec(num_frames=int(frames)))


def report_agreement(preds: dict, results: dict, sizes: list[int], dtype: str, n: int) -> None:
    """Print (and add to ``results``) how often the fp16 greedy outputs of two runs agree."""
    distinct = len(set(preds[(sizes[0], False, False)].values()))
    results["distinct_predictions_batch_%d" % sizes[0]] = distinct
    print(f"agreement of {dtype} greedy outputs (fraction of identical predictions; "
          f"{distinct} distinct predictions among {n} at batch {sizes[0]}):")

    def agree(a, b) -> float:
        return sum(preds[a][k] == preds[b][k] for k in preds[a]) / len(preds[a])

    base = sizes[0]
    results["agreement"] = []
    for bs in sizes:
        row = {"batch_size": bs, "shared_vs_per_question": agree((bs, True, False), (bs, False, False)),
               "per_question_vs_batch_%d" % base: agree((bs, False, False), (base, False, False)),
               "shared_vs_per_question_batch_%d" % base: agree((bs, True, False), (base, False, False))}
        if (bs, True, True) in preds:
            row["refill_vs_per_question_batch_%d" % base] = agree((bs, True, True), (base, False, False))
        results["agreement"].append(row)
        print(f"  batch {bs:>2}: shared vs per-question {row['shared_vs_per_question']:.3f}; per-question batch "
              f"{bs} vs {base}: {row['per_question_vs_batch_%d' % base]:.3f}; shared batch {bs} vs per-question "
              f"batch {base}: {row['shared_vs_per_question_batch_%d' % base]:.3f}"
              + (f"; refill batch {bs} vs per-question batch {base}: "
                 f"{row['refill_vs_per_question_batch_%d' % base]:.3f}" if (bs, True, True) in preds else ""))
    auto = agree(("auto", True, False), (base, False, False))
    results["agreement_auto_vs_per_question_batch_%d" % base] = auto
    print(f"  batch auto: shared vs per-question batch {base}: {auto:.3f}")

    def rate(bs, share, refill):
        return next(x["samples_per_s"] for x in results["runs"]
                    if (x["batch_size"], x["share_prefix"], x["refill"]) == (bs, share, refill))

    for bs in sizes:
        print(f"  speed-up from sharing at batch {bs}: {rate(bs, True, False) / rate(bs, False, False):.2f}x"
              + (f"; refill vs static (shared) at batch {bs}: {rate(bs, True, True) / rate(bs, True, False):.2f}x"
                 if bs > 1 else ""))


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="toy-size model on the CPU (tests this script)")
    ap.add_argument("--family", choices=FAMILY_NAMES, default="video_llava",
                    help="which architecture (default video_llava; the others from bench/<family>_7b_architecture.json)")
    ap.add_argument("--videos", type=int, default=None, help="default 4 (--tiny: 2)")
    ap.add_argument("--questions", type=int, default=None, help="per video; default 16 (--tiny: 5)")
    ap.add_argument("--batch-sizes", default=None, help="default 1,8,16,32 (--tiny: 1,4)")
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--init-std", type=float, default=None,
                    help="redraw weight matrices with this std (default: transformers' init; --tiny: 0.2)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    videos = args.videos or (2 if args.tiny else 4)
    questions = args.questions or (5 if args.tiny else 16)
    sizes = [int(x) for x in (args.batch_sizes or ("1,4" if args.tiny else "1,8,16,32")).split(",")]
    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        print("no CUDA device: run with --tiny to test this script on the CPU")
        return 2
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.float16 if cuda else torch.float32
    t0 = time.perf_counter()
    if args.family == "video_llava":
        adapter, n_params, what, spec = video_llava_adapter(args, device, dtype)
    else:
        adapter, n_params, what, spec = family_adapter(args.family, args, device, dtype)
    print(f"model: {what}{' (tiny)' if args.tiny else ''}, random init, {n_params / 1e9:.2f} B "
          f"parameters, {str(dtype).replace('torch.', '')} on {torch.cuda.get_device_name() if cuda else 'cpu'}; "
          f"built in {time.perf_counter() - t0:.0f} s; {spec.num_frames} frames per video")
    results = {"family": args.family, "device": torch.cuda.get_device_name() if cuda else "cpu",
               "parameters": n_params, "num_frames": spec.num_frames,
               "videos": videos, "questions_per_video": questions, "new_tokens": args.new_tokens, "runs": []}
    preds: dict[tuple[int, bool], dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        samples = make_set(tmp, "gpu_check", [questions] * videos)
        # warm-up (CUDA context, kernels, decoder) -- not timed
        Runner(adapter, RunnerConfig(batch_size=2, progress=False)).run(samples[:2], spec,
                                                                        PredictionStore(tmp / "warm.jsonl"))
        print(f"set: {videos} videos x {questions} questions (3-s 320x240 H.264 clips, decoded by the runner); "
              f"{args.new_tokens} new tokens per question; cpu cores {os.cpu_count()}")
        print(f"{'batch':>7} {'share_prefix':>12} {'refill':>6} {'samples/s':>10} {'peak GPU GiB':>13} {'prefills':>9}")
        runs = [(bs, share, False) for bs in sizes for share in (False, True)]
        runs += [(bs, True, True) for bs in sizes if bs > 1]  # in-flight refill, shared prefixes
        runs += [("auto", True, False)]  # batch size found by the memory probe
        for bs, share, refill in runs:
            out = tmp / f"p_{bs}_{share}_{refill}.jsonl"
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t = time.perf_counter()
            stats = Runner(adapter, RunnerConfig(batch_size=bs, share_prefix=share, refill=refill,
                                                 progress=False)).run(samples, spec, PredictionStore(out))
            if cuda:
                torch.cuda.synchronize()
            dt = time.perf_counter() - t
            peak = torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else float("nan")
            recs = PredictionStore(out).records()
            errors = [r["error"] for r in recs if "error" in r]
            if errors:
                print(f"  errors at batch {bs}, share {share}, refill {refill}: {errors[:2]}")
            preds[(bs, share, refill)] = {r["id"]: r.get("pred") for r in recs}
            prefills = (stats.prefix_sharing or {}).get("prefills", "-")
            chosen = stats.batch_size
            label = f"auto={chosen['final']}" if bs == "auto" else str(bs)
            extra = (f"  refill: {stats.refill.get('mean_rows_per_step')} rows/step" if refill else "") + (
                f"  {chosen['basis']}: {chosen.get('probes') or chosen.get('trials')}" if bs == "auto" else "")
            print(f"{label:>7} {str(share):>12} {str(refill):>6} {len(samples) / dt:>10.2f} {peak:>13.1f} "
                  f"{prefills!s:>9}{extra}")
            results["runs"].append({"batch_size": bs, "share_prefix": share, "refill": refill,
                                    "samples_per_s": len(samples) / dt,
                                    "peak_gpu_gib": peak if cuda else None, "errors": len(errors),
                                    "threads": stats.threads, "prefix_sharing": stats.prefix_sharing,
                                    "batch_size_choice": chosen, "refill_stats": stats.refill})
    report_agreement(preds, results, sizes, str(dtype).replace("torch.", ""), len(samples))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
