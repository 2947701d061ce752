"""The explorer in real headless Chromium (Debian's, driven by Playwright) against `provchain devnet`.

Screenshots of every page go to artifacts/screenshots/ (desktop light, phone dark). Needs /usr/bin/chromium
and the playwright package: `scripts/install-browser.sh` installs both.
"""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import corpus  # noqa: E402

from provchain.chain import crypto  # noqa: E402
from provchain.devnet.cluster import free_base_port  # noqa: E402
from provchain.provenance.client import NodeClient  # noqa: E402
from provchain.provenance.fingerprint import analyze_file  # noqa: E402
from provchain.provenance.register import build_record, submit_record  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _need(what: str):
    msg = f"{what}: run scripts/install-browser.sh"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    """`provchain devnet` (4 validators + the explorer) with one registered clip."""
    if sync_playwright is None:
        _need("the playwright package is not installed")
    if not os.path.exists(CHROMIUM):
        _need(f"{CHROMIUM} is missing")
    root = tmp_path_factory.mktemp("browser")
    base, eport = free_base_port(4), free_port()
    out = open(root / "devnet.out", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "provchain", "devnet", "--home", str(root / "net"),
                             "--base-port", str(base), "--explorer-port", str(eport)],
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, text = time.monotonic() + 90, ""
        while time.monotonic() < deadline and "explorer: http" not in text:
            assert proc.poll() is None, f"devnet exited:\n{(root / 'devnet.out').read_text()}"
            time.sleep(0.3)
            text = (root / "devnet.out").read_text()
        m = re.search(r"explorer: (http://\S+)", text)
        assert m, f"devnet printed no explorer URL:\n{text}"
        node = re.search(r"validator node0: (http://\S+)", text).group(1)
        clips = root / "clips"
        clips.mkdir()
        reg = corpus.make_source(str(clips), "registered", "natural", 31, width=192, height=128, seconds=3, fps=15)
        unreg = corpus.make_source(str(clips), "unregistered", "striped", 32, width=192, height=128, seconds=3, fps=15)
        key = crypto.PrivateKey.generate()
        analysis = analyze_file(reg)
        r = submit_record(NodeClient(node), key, build_record(analysis))
        yield {"url": m.group(1), "node": node, "reg": reg, "unreg": unreg, "record_id": r.record_id,
               "height": r.height, "sha": analysis.file_sha256.hex().upper(), "creator": key.pubkey.hex().upper(),
               "key": key, "clips": clips}
    finally:
        proc.send_signal(signal.SIGTERM)  # stops the validators and the explorer like Ctrl-C
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.close()


@pytest.fixture(scope="module")
def browser(devnet):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture
def phone(browser):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                              has_touch=True, color_scheme="dark")
    pg = ctx.new_page()
    yield pg
    ctx.close()


def shot(pg, name):
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def fits_width(pg) -> bool:
    return pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_home_shows_new_blocks_arriving(devnet, page):
    page.goto(devnet["url"] + "/")
    h0 = int(page.text_content("#latest-height"))
    top0 = int(page.text_content("#blocks-body tr:first-child td:first-child"))
    page.wait_for_function("h => parseInt(document.querySelector('#latest-height').textContent) > h", arg=h0,
                           timeout=20000)
    page.wait_for_function("h => parseInt(document.querySelector('#blocks-body tr:first-child td').textContent) > h",
                           arg=top0, timeout=10000)
    assert page.url.rstrip("/") == devnet["url"]  # no reload, no navigation
    expect(page.locator("#live")).to_have_class(re.compile(r"\bon\b"))
    expect(page.locator("#records-count")).to_have_text("1")
    expect(page.locator("#records-body")).to_contain_text(devnet["record_id"][:6])
    expect(page.locator("#validators-online")).to_contain_text("/ 4")
    # a clip registered while the page is open shows up in "latest records" without a reload
    clip = corpus.make_source(str(devnet["clips"]), "live", "gradient", 33, width=128, height=128, seconds=2, fps=10)
    new = submit_record(NodeClient(devnet["node"]), devnet["key"], build_record(analyze_file(clip)))
    expect(page.locator("#records-body tr").first).to_contain_text(new.record_id[:6], timeout=15000)
    expect(page.locator("#records-count")).to_have_text("2")
    assert page.url.rstrip("/") == devnet["url"]
    shot(page, "home")


def test_search_finds_a_record_by_content_hash(devnet, page):
    page.goto(devnet["url"] + "/")
    page.fill("input[name=q]", devnet["sha"].lower())
    page.press("input[name=q]", "Enter")
    page.wait_for_url(f"**/record/{devnet['record_id']}")
    expect(page.locator("main")).to_contain_text(devnet["sha"])
    expect(page.locator("main")).to_contain_text(devnet["creator"])
    assert page.evaluate("document.querySelector('#fingerprint').naturalWidth") == 768
    page.click("#check-proof")
    expect(page.locator("#proof-result .verdict")).to_contain_text("proof checked", ignore_case=True, timeout=15000)
    shot(page, "record")


def test_block_creator_validators_pages(devnet, page):
    page.goto(f"{devnet['url']}/block/{devnet['height']}")
    expect(page.locator("main")).to_contain_text("final", ignore_case=True)
    expect(page.locator("main")).to_contain_text(devnet["record_id"][:8])
    shot(page, "block")
    page.goto(f"{devnet['url']}/creator/{devnet['creator']}?page=1")
    expect(page.locator("main")).to_contain_text(devnet["record_id"][:6])
    shot(page, "creator")
    page.goto(f"{devnet['url']}/validators")
    expect(page.locator("main table.list").first).to_contain_text("validator 3")
    shot(page, "validators")


def test_verify_page_reports_registered_and_unregistered_clips(devnet, page):
    page.goto(devnet["url"] + "/verify")
    page.set_input_files("#file-input", devnet["reg"])
    expect(page.locator("#verdict-word")).to_have_text("verified", timeout=30000)
    expect(page.locator("#verify-result")).to_contain_text("not uploaded")  # exact hit: WebCrypto hash, no upload
    expect(page.locator("#verify-result")).to_contain_text("commit_signatures")
    expect(page.locator("#timeline .seg.match")).to_have_count(1)
    shot(page, "verify-verified")
    page.set_input_files("#file-input", devnet["unreg"])
    expect(page.locator("#verdict-word")).to_have_text("unregistered", timeout=60000)
    expect(page.locator("#verify-result")).to_contain_text("upload was deleted")
    shot(page, "verify-unregistered")


def test_unknown_hash_gives_the_error_page(devnet, page):
    page.goto(devnet["url"] + "/")
    page.fill("input[name=q]", uuid.uuid4().hex * 2)
    page.press("input[name=q]", "Enter")
    expect(page.locator("#error-message")).to_contain_text("Nothing on this chain")
    expect(page.locator(".status-code")).to_have_text("404")
    shot(page, "error-unknown-hash")


def test_pages_fit_a_phone_in_dark_mode(devnet, phone):
    for name, path in [("home", "/"), ("record", f"/record/{devnet['record_id']}"),
                       ("block", f"/block/{devnet['height']}"), ("validators", "/validators"), ("verify", "/verify")]:
        phone.goto(devnet["url"] + path)
        assert fits_width(phone), f"{path} scrolls sideways on a phone"
        bg = phone.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(15, 18, 22)", f"{path} is not in dark mode: {bg}"
        if name == "verify":
            phone.set_input_files("#file-input", devnet["reg"])
            expect(phone.locator("#verdict-word")).to_have_text("verified", timeout=30000)
        shot(phone, f"phone-dark-{name}")


def test_verify_page_shows_content_credentials(devnet, page, tmp_path):
    """The devnet's explorer trusts the devnet CA: a clip signed with a devnet certificate shows a trusted
    manifest; one that names a record this chain lacks is a conflict; a remux of a signed registered clip
    says its manifest was lost."""
    pytest.importorskip("c2pa")
    from provchain.devnet import ca
    from provchain.generator.hooks import Hook, Outbox
    from provchain.provenance import c2pa_sign
    from tests.unit.test_c2pa import write_clip
    ca_dir = devnet["clips"].parent / "net" / "ca"
    key = crypto.PrivateKey.generate()
    cert = tmp_path / "creator.cert.pem"
    cert.write_text(ca.issue(ca_dir, key.pubkey, "Browser Creator"))
    hook = Hook(devnet["node"], key, Outbox(tmp_path / "outbox"), "browser-test", cert=str(cert))
    signed = write_clip(tmp_path / "signed.mp4", seed=41)
    assert hook.register(signed, prompt="p", seed=1) is not None
    page.goto(devnet["url"] + "/verify")
    page.set_input_files("#file-input", signed)  # found by its hash: not uploaded, the record vouches
    expect(page.locator("#verdict-word")).to_have_text("verified", timeout=30000)
    expect(page.locator("#c2pa-card")).to_contain_text("carries a C2PA manifest signed by its creator")
    page.set_input_files("#file-input", corpus.remux(signed, str(tmp_path / "remuxed.mp4")))
    expect(page.locator("#c2pa-state")).to_have_attribute("data-state", "lost", timeout=60000)
    expect(page.locator("#c2pa-card")).to_contain_text("LOST")
    shot(page, "verify-c2pa-lost")

    claims = write_clip(tmp_path / "claims.mp4", seed=42)
    c2pa_sign.sign_clip(claims, analyze_file(claims), key, cert.read_text(), "browser-test", hook.chain_ref())
    page.set_input_files("#file-input", claims)
    expect(page.locator("#verdict-word")).to_have_text("unregistered", timeout=60000)
    expect(page.locator("#c2pa-state")).to_have_attribute("data-state", "Trusted")
    expect(page.locator("#c2pa-check")).to_have_attribute("data-check", "conflict")
    expect(page.locator("#c2pa-card")).to_contain_text("Browser Creator")
    expect(page.locator("#c2pa-card")).to_contain_text("c2pa.created by browser-test trainedAlgorithmicMedia")
    shot(page, "verify-c2pa-conflict")


# --- layout at 1280 and 390 px: measured in the page, and screenshots kept in artifacts/screenshots ---
LAYOUT = """() => {
  const out = {doc: [document.scrollingElement.scrollWidth, innerWidth], boxes: [], broken: [], cut: []};
  for (const e of document.querySelectorAll('.table-wrap, .card, figure, .columns > section, main')) {
    if (e.scrollWidth > e.clientWidth + 1) out.boxes.push(e.className + ' ' + e.scrollWidth + '>' + e.clientWidth);
  }
  for (const c of document.querySelectorAll('code.hash')) {  // a hash split over two lines
    if (c.offsetParent !== null && c.getClientRects().length > 1) out.broken.push(c.textContent.slice(0, 24));
  }
  for (const td of document.querySelectorAll('td[data-label="Media"]')) {  // media cells fully on screen
    const r = td.getBoundingClientRect(), wrap = td.closest('.table-wrap').getBoundingClientRect();
    if (r.width < 20 || r.right > Math.min(innerWidth, wrap.right) + 1) out.cut.push(td.textContent);
  }
  return out;
}"""


@pytest.mark.parametrize("width, height", [(1280, 900), (390, 844)])
def test_layout_fits_without_sideways_scroll_or_broken_hashes(devnet, browser, width, height):
    ctx = browser.new_context(viewport={"width": width, "height": height}, is_mobile=width < 500)
    pg = ctx.new_page()
    try:
        for name, path in [("home", "/"), ("records", "/records"), ("record", f"/record/{devnet['record_id']}"),
                           ("block", "/block/1"), ("creator", f"/creator/{devnet['creator']}"),
                           ("validators", "/validators"), ("verify", "/verify")]:
            pg.goto(devnet["url"] + path)
            pg.wait_for_load_state("networkidle")
            shot(pg, f"layout-{width}-{name}")
            m = pg.evaluate(LAYOUT)
            # a mobile viewport widens to its content, so compare with the width asked for too
            assert m["doc"][0] <= min(m["doc"][1], width), f"{path} at {width} px scrolls sideways: {m['doc']}"
            assert m["boxes"] == [], f"{path} at {width} px: boxes scroll sideways: {m['boxes']}"
            assert m["broken"] == [], f"{path} at {width} px: hashes split over lines: {m['broken']}"
            assert m["cut"] == [], f"{path} at {width} px: media column cut: {m['cut']}"
        pg.set_input_files("#file-input", devnet["reg"])  # the verify result (exact hit, proofs checked)
        expect(pg.locator("#verify-result")).to_contain_text("commit_signatures", timeout=60000)
        shot(pg, f"layout-{width}-verify-result")
        m = pg.evaluate(LAYOUT)
        assert m["doc"][0] <= min(m["doc"][1], width) and m["boxes"] == [] and m["broken"] == [], m
        pg.goto(devnet["url"] + "/")
        assert pg.locator("#records-body td[data-label='Media']").first.is_visible()
    finally:
        ctx.close()


def test_record_page_shows_the_fingerprint_strip_then_the_uploaded_clip(devnet, page):
    clip = corpus.make_source(str(devnet["clips"]), "pictured", "natural", 77, width=192, height=128, seconds=3, fps=15)
    reg = submit_record(NodeClient(devnet["node"]), devnet["key"], build_record(analyze_file(clip)))
    page.goto(f"{devnet['url']}/record/{reg.record_id}")
    strip = page.locator("#clip-picture img.strip")
    expect(strip).to_be_visible()
    page.wait_for_function("() => document.querySelector('#clip-picture img').naturalWidth > 0")
    assert page.request.get(f"{devnet['url']}/api/record/{reg.record_id}/preview.mp4").status == 404
    with open(clip, "rb") as f:
        res = page.request.post(devnet["url"] + "/api/verify", data=f.read(), headers={"X-Filename": "pictured.mp4"})
    assert res.ok and res.json()["verify"]["verdict"] == "verified"
    page.goto(f"{devnet['url']}/record/{reg.record_id}")
    video = page.locator("#clip-picture video")
    expect(video).to_be_visible()
    page.wait_for_function("() => document.querySelector('#clip-picture video').readyState >= 2", timeout=15000)
    poster = page.request.get(f"{devnet['url']}/api/record/{reg.record_id}/poster.png")
    assert poster.ok and poster.body()[:8] == b"\x89PNG\r\n\x1a\n"
    shot(page, "record-with-preview")
    container = page.locator("table.kv tr", has=page.locator("th", has_text="Container"))
    expect(container.locator("td")).to_have_text("mp4")  # an .mp4 is "mp4", not FFmpeg's "mov"
