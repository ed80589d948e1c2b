"""Read one sample's media as the model adapter expects it (decoded video frames or an image)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from evalkit.samples import MediaSpec, Sample
from evalkit.store.records import PredictionRecord


@dataclass
class LoadedSample:
    sample: Sample
    media: Any = None
    frame_indices: Optional[list[int]] = None
    video_fps: Optional[float] = None  # the file's frame rate (frame_indices / fps = timestamps)
    error: Optional[str] = None  # "<file>: <reason>: <detail>" when the media could not be used


def load_media(sample: Sample, spec: MediaSpec, decoder_threads: bool = True) -> LoadedSample:
    """Never raises for bad media: a failure becomes ``LoadedSample.error``.  ``decoder_threads``:
    let PyAV decode with frame/slice threads (off when the caller runs many decodes in parallel).
    Images come as they are: padding to a square is the model adapter's preprocessing
    (:meth:`evalkit.models.base.ModelAdapter.image_for_model`)."""
    from evalkit.media import MediaError, apply_frame_order, load_image, load_video_frames

    try:
        if sample.modality == "video":
            if len(sample.media) != 1:
                raise ValueError(f"sample {sample.id}: expected one video, got {len(sample.media)}")
            frames, indices, info = load_video_frames(sample.media[0], num_frames=spec.num_frames,
                                                        sampler=spec.sampler, threads=decoder_threads)
            if spec.frame_order != "original":
                frames = apply_frame_order(frames, spec.frame_order, seed=spec.seed)
            return LoadedSample(sample, frames, list(map(int, indices)), info.fps)
        if sample.modality == "image":
            if len(sample.media) != 1:
                raise ValueError(f"sample {sample.id}: expected one image, got {len(sample.media)}")
            return LoadedSample(sample, load_image(sample.media[0]))
        return LoadedSample(sample)
    except MediaError as e:
        return LoadedSample(sample, error=str(e))
    except Exception as e:  # a decoder bug must not kill the run; record it against the file
        where = sample.media[0] if sample.media else sample.id
        return LoadedSample(sample, error=f"{where}: unexpected: {type(e).__name__}: {e}")


def prediction_record(item: LoadedSample, pred: Optional[str] = None, error: Optional[str] = None,
                      prompt: Optional[str] = None) -> PredictionRecord:
    """The record of one sample: its prediction, or the error that stopped it."""
    s = item.sample
    return PredictionRecord(id=s.id, question=s.question, answer=s.answer, pred=pred if error is None else None,
                            error=error, answers=list(s.answers) if len(s.answers) > 1 else None,
                            media=list(s.media) if s.media else None, frame_indices=item.frame_indices,
                            prompt=prompt, metadata=s.metadata or None)
