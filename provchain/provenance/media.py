"""Small facts about a media file that its container library does not say plainly."""

from __future__ import annotations

# ISO base media file brands (the ftyp box) that are not MP4: QuickTime and 3GPP/3GPP2
_NOT_MP4 = {b"qt  ": "mov", b"3gp": "3gp", b"3g2": "3g2"}


def container_name(format_names: str, path: str) -> str:
    """The container's short name. FFmpeg names every ISO base media file "mov,mp4,m4a,3gp,3g2,mj2";
    the file's ftyp box tells which one it is, so an .mp4 is "mp4", not "mov"."""
    first = (format_names or "unknown").split(",")[0]
    if first != "mov":
        return first
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return first
    if len(head) < 12 or head[4:8] != b"ftyp":
        return "mov"  # QuickTime files may have no ftyp box
    brand = head[8:12]
    for prefix, name in _NOT_MP4.items():
        if brand.startswith(prefix):
            return name
    return "mp4"
