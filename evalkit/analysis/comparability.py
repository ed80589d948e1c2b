"""Whether two results were produced under the same protocol: three levels, with reasons.

A result is what one task of one run produced (:class:`RunProtocol`, read from its manifest and
metrics.json) or what a paper reports (:class:`evalkit.analysis.references.Reference`, from
``tasks/<task>/reference.yaml``).  Comparing them gives a :class:`Verdict` at one of three levels:

``same protocol``
    everything both record agrees, the judge snapshot that answered included;
    an open-weight judge (its ``weights.sha256`` recorded) is the same judge exactly when its weight files
    are the same bytes, whatever its name, path or server: same weights, same judge, forever;
``judge snapshot differs``
    the same protocol otherwise, but the judge model's snapshot differs or cannot be shown to be
    the same (both are named: re-judging with a newer snapshot has moved published video-QA
    accuracy by several points);
``not comparable``
    anything else differs, each difference named: scored by exact match vs a judge, another
    aggregation, judge model family or judge prompt, other frames, sampler or video
    preprocessing (``model.video_preprocess``), another answer
    prompt, other decoding, another scoring rule or split, or a subset of the set.  Predictions
    imported from a reference script's file (:mod:`evalkit.pipeline.imported`) state none of frames,
    sampler, answer prompt or decoding: such a run is not comparable with a paper row, and says why.

What a reference row does not state cannot be checked; the verdict lists it under ``unchecked``
rather than pretending either way.  Pure functions: nothing here reads files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

SAME = "same protocol"
NO_REFERENCE = "no reference"  # leaderboard only: no paper row; the protocol most runs of the task share
SNAPSHOT = "judge snapshot differs"
NOT = "not comparable"
LEVELS = (SAME, NO_REFERENCE, SNAPSHOT, NOT)
NOT_STATED = "not stated"


@dataclass(frozen=True)
class RunProtocol:
    """What one measured task result was produced and scored under (from its run folder)."""

    task: str
    judged: bool = False
    exact_match: bool = False                     # unjudged, accuracy = the exact-match proxy
    aggregation: Optional[str] = None
    judge_requested: Optional[str] = None         # the judge's identity (judge_id), else the requested model
    judge_weights: Optional[str] = None           # sha256 of an open-weight judge's files (None: hosted)
    judge_snapshots: tuple[str, ...] = ()         # what answered; () when no line says
    judge_prompt: Optional[str] = None            # "reference" | "evalkit" | "custom" (None: not recorded)
    judge_prompt_hash: Optional[str] = None
    video: bool = True
    frames: Optional[int] = None
    sampler: Optional[str] = None
    video_preprocess: Optional[str] = None        # model.video_preprocess (None: not recorded)
    template: Optional[str] = None                # answer conversation template that ran
    template_source: Optional[str] = None         # reference | evalkit | custom | server
    template_hash: Optional[str] = None
    temperature: Optional[float] = None
    max_new_tokens: Optional[int] = None
    image_pad: Optional[bool] = None              # images padded to a square by the adapter (image sets)
    split: Optional[str] = None
    task_protocol: Mapping[str, Any] = field(default_factory=dict)
    n_samples: Optional[int] = None
    full_size: Optional[int] = None
    subset_reasons: tuple[str, ...] = ()
    imported: Optional[str] = None                # "<file name> (sha256 <12 hex>)" of imported predictions

    @property
    def subset(self) -> bool:
        return bool(self.subset_reasons)

    @classmethod
    def of(cls, tr: Any) -> "RunProtocol":
        """From an :class:`evalkit.analysis.runs.TaskRun`."""
        m = tr.metrics or {}
        man = tr.manifest or {}
        proto = man.get("protocol") or {}
        tproto = dict(proto.get("task_protocol") or {})
        media = dict(tproto.get("media") or {})
        video = media.get("modality", "video") == "video"
        media_cfg = tr.media_protocol() if video else {}
        answer = tr.answer_prompt()
        gen = man.get("generation") or m.get("generation") or {}
        judge_prompt = tr.judge_prompt()
        counts = m.get("counts") or {}
        reasons = tuple(counts.get("subset_reasons") or ())
        if counts.get("subset") and not reasons:
            reasons = ("a subset",)
        snapshots = tuple(s for s in tr.judge_models if not s.endswith("(requested)")) if tr.judged else ()
        return cls(
            task=tr.task, judged=tr.judged,
            exact_match="exact_match" in ((m.get("metrics") or {}).get("scored_by"),
                                          (m.get("metrics") or {}).get("accuracy_source")),  # the latter: older files
            aggregation=tr.aggregation if tr.judged else None,
            judge_requested=((tr.judge or {}).get("judge_id") or (tr.judge or {}).get("model_requested"))
            if tr.judged else None,
            judge_weights=((tr.judge or {}).get("weights") or {}).get("sha256") if tr.judged else None,
            judge_snapshots=snapshots,
            judge_prompt=judge_prompt.get("source") if tr.judged else None,
            judge_prompt_hash=judge_prompt.get("hash") if tr.judged else None,
            video=video, frames=media_cfg.get("num_frames"), sampler=media_cfg.get("sampler"),
            video_preprocess=(proto.get("model_config") or {}).get("video_preprocess") if video else None,
            template=answer.get("template") or tr.prompt_template(), template_source=answer.get("source"),
            template_hash=answer.get("hash"),
            temperature=gen.get("temperature"), max_new_tokens=gen.get("max_new_tokens"),
            image_pad=None if video else gen.get("image_pad"),
            split=(proto.get("task_config") or {}).get("split"),
            task_protocol={k: v for k, v in tproto.items() if k != "media"},
            n_samples=counts.get("selected", counts.get("samples")),
            full_size=counts.get("expected_size") or counts.get("set_size"),
            subset_reasons=reasons, imported=_imported_text(man.get("imported")),
        )


def _imported_text(block: Any) -> Optional[str]:
    if not isinstance(block, Mapping) or not block.get("file"):
        return None
    return f"{str(block['file']).replace(chr(92), '/').rsplit('/', 1)[-1]} (sha256 {str(block.get('sha256'))[:12]})"


def imported_reason(run: RunProtocol) -> str:
    return f"predictions imported from {run.imported}: frames, sampler, answer prompt and decoding not stated"


@dataclass(frozen=True)
class Verdict:
    level: str
    reasons: tuple[str, ...] = ()                 # why not the same protocol
    unchecked: tuple[str, ...] = ()               # what the other side does not state

    @property
    def comparable(self) -> bool:
        """Same protocol (the only level whose numbers may be put side by side without a caveat)."""
        return self.level == SAME

    def label(self) -> str:
        if self.level == SAME:
            return SAME
        return f"{self.level}: {'; '.join(self.reasons)}"

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "label": self.label(), "reasons": list(self.reasons),
                "unchecked": list(self.unchecked)}


def worst(verdicts: Sequence[Verdict]) -> str:
    """The lowest level among ``verdicts`` (SAME when there are none)."""
    return max((v.level for v in verdicts), key=LEVELS.index, default=SAME)


def _stated(value: Any) -> bool:
    return value is not None and value != NOT_STATED


def _family(snapshot: str, family: str) -> bool:
    return snapshot == family or snapshot.startswith(family + "-")


def _snapshots(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def _template_text(name: Optional[str], source: Optional[str]) -> str:
    if name is None:
        return "not recorded"
    return name if source in (None, "reference") else f"{name} ({source})"


def _scoring_reasons(run: RunProtocol, ref: Any) -> list[str]:
    """Exact match vs judge, aggregation and judge model family (the scoring protocol)."""
    out: list[str] = []
    if ref.judge and not run.judged:
        out.append(f"scored by exact match, not by the {ref.judge} judge")
    if ref.judge and run.judged:
        shown = run.judge_snapshots or ((run.judge_requested,) if run.judge_requested else ())
        if shown and not all(_family(s, str(ref.judge)) for s in shown):
            out.append(f"judge model {'+'.join(shown)} vs {ref.judge}")
        if ref.aggregation and run.aggregation and run.aggregation != ref.aggregation:
            out.append(f"aggregation {run.aggregation} vs {ref.aggregation}")
    return out


def against_reference(run: RunProtocol, ref: Any) -> Verdict:
    """A measured result against a reported row (``evalkit.analysis.references.Reference``)."""
    reasons = _scoring_reasons(run, ref)
    if run.imported:
        reasons.insert(0, imported_reason(run))
    unchecked: list[str] = []

    def check(name: str, ref_value: Any, run_value: Any, text: Optional[str] = None) -> None:
        if not _stated(ref_value):
            unchecked.append(name)
        elif run_value is None:
            reasons.append(f"{name} not recorded by this run (reference: {ref_value})")
        elif run_value != ref_value:
            reasons.append(text or f"{name} {run_value} vs {ref_value}")

    if ref.judge and run.judged:
        if ref.judge_prompt == "reference":
            if run.judge_prompt != "reference":
                reasons.append(f"judge prompt differs: {run.judge_prompt or 'not recorded'} vs the reference "
                               "script's (evalkit-prompts import)")
        elif _stated(ref.judge_prompt):
            if run.judge_prompt_hash != ref.judge_prompt:
                reasons.append("judge prompt differs (hash)")
        else:
            unchecked.append("judge prompt")
    if run.video:
        check("frames", ref.frames, run.frames)
        check("sampler", ref.sampler, run.sampler)
        check("video preprocessing", getattr(ref, "video_preprocess", None), run.video_preprocess)
    if _stated(ref.template):
        if run.template != ref.template or run.template_source not in (None, "reference"):
            reasons.append(f"prompt differs: {_template_text(run.template, run.template_source)} vs {ref.template}")
    else:
        unchecked.append("answer prompt")
    if isinstance(ref.decoding, Mapping):
        for key, mine in (("temperature", run.temperature), ("max_new_tokens", run.max_new_tokens)):
            if key in ref.decoding:
                check(key, ref.decoding[key], mine)
    else:
        unchecked.append("decoding")
    for key, want in (getattr(ref, "scoring", None) or {}).items():
        check(key, want, run.task_protocol.get(key))
    if _stated(getattr(ref, "split", None)):
        check("split", ref.split, run.split)
    if run.subset:
        reasons.append(f"subset {run.n_samples} of {run.full_size} ({'; '.join(run.subset_reasons)})")
    if reasons:
        return Verdict(NOT, tuple(reasons), tuple(unchecked))
    if ref.judge and run.judged:
        snap = run.judge_snapshots or ("unknown",)
        if not _stated(ref.judge_snapshot):
            return Verdict(SNAPSHOT, (f"{'+'.join(snap)} vs not stated by the paper ({ref.judge} of its time)",),
                           tuple(unchecked))
        allowed = _snapshots(ref.judge_snapshot)
        if not all(s in allowed for s in snap):
            return Verdict(SNAPSHOT, (f"{'+'.join(snap)} vs {' or '.join(allowed)}",), tuple(unchecked))
    return Verdict(SAME, (), tuple(unchecked))


def _same_judge(a: RunProtocol, b: RunProtocol) -> bool:
    """Open weights: the same files (sha256), whatever their name or path; hosted: the same requested model."""
    if a.judge_weights or b.judge_weights:
        return a.judge_weights == b.judge_weights
    return a.judge_requested == b.judge_requested


def between_runs(a: RunProtocol, b: RunProtocol) -> Verdict:
    """Two measured results (``b`` against the baseline ``a``): every recorded field compared."""
    reasons: list[str] = []
    if a.imported != b.imported:
        reasons.extend(imported_reason(r) for r in (b, a) if r.imported)
    if a.judged != b.judged:
        reasons.append("one judged, one scored by exact match")
    if a.judged and b.judged:
        if a.aggregation != b.aggregation:
            reasons.append(f"aggregation {b.aggregation} vs {a.aggregation}")
        if not _same_judge(a, b):
            reasons.append(f"judge model {b.judge_requested} vs {a.judge_requested}")
        if (a.judge_prompt, a.judge_prompt_hash) != (b.judge_prompt, b.judge_prompt_hash):
            reasons.append(f"judge prompt differs: {b.judge_prompt or 'not recorded'} vs {a.judge_prompt or 'not recorded'}")
    for name, va, vb in (("frames", a.frames, b.frames), ("sampler", a.sampler, b.sampler),
                         ("video preprocessing", a.video_preprocess, b.video_preprocess),
                         ("temperature", a.temperature, b.temperature),
                         ("max_new_tokens", a.max_new_tokens, b.max_new_tokens), ("split", a.split, b.split),
                         ("image padding to a square", a.image_pad, b.image_pad)):
        if va != vb:
            reasons.append(f"{name} {vb} vs {va}")
    if (a.template, a.template_hash) != (b.template, b.template_hash):
        reasons.append(f"prompt differs: {_template_text(b.template, b.template_source)} vs "
                       f"{_template_text(a.template, a.template_source)}")
    for key in sorted(set(a.task_protocol) | set(b.task_protocol)):
        if a.task_protocol.get(key) != b.task_protocol.get(key):
            reasons.append(f"{key} {b.task_protocol.get(key)!r} vs {a.task_protocol.get(key)!r}")
    if reasons:
        return Verdict(NOT, tuple(reasons))
    if a.judged and not a.judge_weights and set(a.judge_snapshots) != set(b.judge_snapshots):
        return Verdict(SNAPSHOT, (f"{'+'.join(b.judge_snapshots) or 'unknown'} vs "
                                  f"{'+'.join(a.judge_snapshots) or 'unknown'}",))
    return Verdict(SAME)
