"""MP4 writing / reading for generated clips (PyAV, H.264, yuv420p). No torch here."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

MIN_SIDE = 256


def _upscale_to(frames: np.ndarray, min_side: int) -> np.ndarray:
    h, w = frames.shape[1:3]
    k = max(1, -(-min_side // min(h, w)))
    if k > 1:
        frames = np.repeat(np.repeat(frames, k, axis=1), k, axis=2)
    return frames


def write_mp4(frames: np.ndarray, path: str, fps: int = 8, crf: int = 18, min_side: int = MIN_SIDE) -> str:
    """Write uint8 (T, H, W, 3) RGB frames as H.264/yuv420p MP4 at `fps`.

    Frames smaller than min_side are upscaled (nearest, integer factor). Encoding is single-threaded
    with fixed settings so the same frames give the same bytes with the same libx264 build.
    """
    import av

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError("frames must be uint8 (T, H, W, 3)")
    if len(frames) == 0:
        raise ValueError("no frames")
    frames = _upscale_to(frames, min_side)
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:  # yuv420p needs even sides
        frames = frames[:, : h - h % 2, : w - w % 2]
        h, w = frames.shape[1:3]
    with av.open(path, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(int(fps), 1))
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium", "threads": "1"}
        stream.codec_context.thread_count = 1
        for i, img in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            vf.pts = i
            for pkt in stream.encode(vf):
                container.mux(pkt)
        for pkt in stream.encode():
            container.mux(pkt)
    return path


def read_mp4(path: str) -> tuple[np.ndarray, float]:
    """Decode a video file -> (uint8 (T, H, W, 3) RGB frames, fps)."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    return np.stack(frames), fps
