"""Pictures of clips for record pages: a poster frame and a short silent preview of a clip the explorer
was given (a Verify upload that proved to be a registered record's content), kept in a temporary
folder by record id. The node stores no video, so for any other record the page shows the
fingerprint's time strip instead (fpimage.strip_png).

Only uploads whose verdict says they *are* the record's content ("verified": the same file; "match":
a copy of it) are kept, at most MAX_CLIPS of them, oldest dropped first; the folder goes when the
explorer stops. Previews are made with PyAV (H.264 in MP4, PNG), small: PREVIEW_SECONDS at
PREVIEW_WIDTH pixels.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger("provchain.explorer")

PREVIEW_SECONDS = 3.0
PREVIEW_WIDTH = 320
PREVIEW_FPS = 8
MAX_CLIPS = 200
KEEP_VERDICTS = ("verified", "match")


def _even(n: int) -> int:
    return max(2, n - n % 2)


def make_preview(src: str, poster_png: Path, preview_mp4: Path) -> None:
    """The clip's first frame as PNG and its first PREVIEW_SECONDS as a small H.264 MP4."""
    import av
    with av.open(src) as inp:
        stream = inp.streams.video[0]
        w, h = stream.codec_context.width, stream.codec_context.height
        width = _even(min(PREVIEW_WIDTH, w))
        height = _even(round(h * width / max(1, w)))
        with av.open(str(preview_mp4), "w") as out:
            enc = out.add_stream("libx264", rate=PREVIEW_FPS)
            enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
            enc.options = {"crf": "28", "preset": "veryfast"}
            next_t, poster = 0.0, None
            for frame in inp.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None and stream.time_base else next_t
                if t > PREVIEW_SECONDS:
                    break
                if t + 1e-6 < next_t:
                    continue  # keep PREVIEW_FPS frames a second
                next_t += 1.0 / PREVIEW_FPS
                small = frame.reformat(width=width, height=height, format="rgb24")
                if poster is None:
                    poster = small
                for pkt in enc.encode(av.VideoFrame.from_ndarray(small.to_ndarray(), format="rgb24")):
                    out.mux(pkt)
            for pkt in enc.encode():
                out.mux(pkt)
    if poster is None:
        raise ValueError("no frames")
    png = av.CodecContext.create("png", "w")
    png.width, png.height, png.pix_fmt = width, height, "rgb24"
    data = b"".join(bytes(p) for p in png.encode(poster)) + b"".join(bytes(p) for p in png.encode(None))
    poster_png.write_bytes(data)


class PreviewStore:
    def __init__(self, max_clips: int = MAX_CLIPS):
        self.max_clips = max_clips
        self._dir: Path | None = None
        self._by_record: OrderedDict[str, Path] = OrderedDict()  # record id -> folder of its preview
        self._lock = threading.Lock()

    def _root(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="provchain-explorer-previews-"))
        return self._dir

    def keep(self, src: str, result: dict) -> None:
        """After a Verify upload (runs in the worker thread): keep a preview for the records the clip
        proved to be. Best effort: a clip PyAV cannot re-encode simply gets none."""
        if result.get("verdict") not in KEEP_VERDICTS or not result.get("content_sha256"):
            return
        ids = [m["record_id"] for m in result.get("matches", []) if m.get("record_id")][:1]
        if not ids:
            return
        with self._lock:
            folder = self._root() / result["content_sha256"][:32]
        try:
            folder.mkdir(exist_ok=True)
            make_preview(src, folder / "poster.png", folder / "preview.mp4")
        except Exception as exc:  # noqa: BLE001 - a picture is a nicety, never an error for the user
            log.info("no preview for %s: %s", ids[0], exc)
            shutil.rmtree(folder, ignore_errors=True)
            return
        with self._lock:
            for rid in ids:
                self._by_record[rid] = folder
                self._by_record.move_to_end(rid)
            while len(self._by_record) > self.max_clips:
                _, old = self._by_record.popitem(last=False)
                if old not in self._by_record.values():
                    shutil.rmtree(old, ignore_errors=True)

    def get(self, record_id: str, name: str) -> Path | None:
        """poster.png or preview.mp4 of a record, if the explorer has its clip."""
        with self._lock:
            folder = self._by_record.get(record_id)
        p = folder / name if folder is not None else None
        return p if p is not None and p.exists() else None

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
