"""Media decoding layer: frame-exact video reading, frame sampling, images."""

from .errors import MediaError
from .image import load_image
from .sampling import FRAME_ORDERS, SAMPLERS, apply_frame_order, frame_order_permutation, sample_indices
from .video import VideoInfo, load_video_frames, probe_video, read_frames, read_frames_sequential

__all__ = [
    "MediaError",
    "SAMPLERS",
    "sample_indices",
    "FRAME_ORDERS",
    "apply_frame_order",
    "frame_order_permutation",
    "VideoInfo",
    "probe_video",
    "read_frames",
    "read_frames_sequential",
    "load_video_frames",
    "load_image",
]
