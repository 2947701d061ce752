"""Scene rendering, captions, held-out split, scorer and MP4 writing (no torch needed)."""
import numpy as np
import pytest

from provchain.generator import data as D
from provchain.generator import score as S


def test_render_shapes_and_textures_not_flat():
    rng = np.random.default_rng(0)
    for tex in D.TEXTURES:
        sc = D.scene_from_words("red", "circle", "left to right", "moving", tex, "green", rng)
        fr = D.render(sc, 4)
        assert fr.shape == (4, 64, 64, 3) and fr.dtype == np.uint8
        bg = D.render_background(sc)
        assert bg.std() > 5, tex  # textured, never a flat frame


def test_caption_names_everything_and_parses_back():
    rng = np.random.default_rng(1)
    for _ in range(50):
        sc = D.sample_scene(rng, "any")
        a = D.parse_prompt(sc.caption)
        assert (a["colour"], a["shape"], a["direction"]) == (sc.colour, sc.shape, sc.direction)
        assert (a["texture"], a["bg_colour"]) == (sc.texture, sc.bg_colour)


def test_heldout_triples_never_in_training_but_parts_are():
    rng = np.random.default_rng(2)
    seen = {(s.colour, s.shape, s.direction) for s in (D.sample_scene(rng, "train") for _ in range(3000))}
    assert not seen & set(D.HELDOUT_TRIPLES)
    assert len(D.HELDOUT_TRIPLES) == 12
    for c, s, d in D.HELDOUT_TRIPLES:
        assert any(t[:2] == (c, s) for t in seen)  # colour+shape pair seen with other motions
    assert len(D.heldout_prompts()) == 48


def test_latent_sets_layout_speed_and_start_and_comes_from_the_seed():
    rng = np.random.default_rng(5)
    sc = D.scene_from_words("red", "circle", "left to right", "moving", "striped", "green", rng)
    variant, speed, offset = sc.latent
    assert sc.speed == D.SPEEDS[speed]
    assert sc.y0 == D.SIZE / 2 + D.ACROSS_OFFSETS[offset] and sc.x0 < D.SIZE / 2  # starts on the left
    up = D.scene_from_words("red", "circle", "bottom to top", "moving", "striped", "green", rng)
    assert up.y0 > D.SIZE / 2  # leaves from the bottom
    # the four layouts of a texture differ; the background depends on the layout index alone
    bgs = {D.render_background(D.replace(sc, latent=(v, speed, offset))).tobytes() for v in range(D.BG_VARIANTS)}
    assert len(bgs) == D.BG_VARIANTS
    other = D.replace(sc, latent=(variant, (speed + 1) % len(D.SPEEDS), (offset + 1) % len(D.ACROSS_OFFSETS)))
    assert np.array_equal(D.render_background(other), D.render_background(sc))
    assert D.latent_for_seed(11) == D.latent_for_seed(11)
    assert len({D.latent_for_seed(s) for s in range(200)}) > 40
    assert len(D.latent_words(sc.latent)) == 3 and set(D.latent_words(sc.latent)) <= set(D.LATENT_VOCAB)


def test_motion_follows_direction_and_bounces():
    sc = D.Scene("red", "circle", "left to right", "moving", "striped", "green", x0=10, y0=30, speed=3.5)
    tr = D.trajectory(sc, 64)
    assert tr[5, 0] > tr[0, 0] and np.allclose(tr[:, 1], 30)
    assert tr[:, 0].max() <= 64 - 1 - sc.radius - 1 + 1e-6  # reflects off the wall
    assert np.any(np.diff(tr[:, 0]) < 0)


def test_scorer_on_ground_truth_clips():
    rng = np.random.default_rng(3)
    res = []
    for p in D.heldout_prompts()[::6]:
        a = D.parse_prompt(p)
        sc = D.scene_from_words(a["colour"], a["shape"], a["direction"], "moving", a["texture"], a["bg_colour"], rng)
        res.append(S.score_clip(D.render(sc, 24), p))
    summ = S.summarise(res)
    assert summ["adherence"] == 1.0 and summ["moving"] == 1.0


def test_scorer_rejects_frozen_and_wrong_direction():
    rng = np.random.default_rng(4)
    sc = D.scene_from_words("blue", "square", "left to right", "moving", "checkered", "grey", rng)
    frozen = np.repeat(D.render(sc, 1), 24, axis=0)
    s = S.score_clip(frozen, "a blue square moving left to right")
    assert not s.moving and not s.adherent
    s = S.score_clip(D.render(sc, 24), "a blue square moving right to left")
    assert s.moving and not s.direction_ok and not s.adherent
    s = S.score_clip(D.render(sc, 24), "a red circle moving left to right")
    assert not s.colour_ok and not s.shape_ok


def test_write_mp4_roundtrip(tmp_path):
    pytest.importorskip("av")
    from provchain.generator.video import read_mp4, write_mp4

    rng = np.random.default_rng(5)
    sc = D.scene_from_words("yellow", "triangle", "top to bottom", "moving", "noisy", "blue", rng)
    frames = D.render(sc, 32)
    path = write_mp4(frames, str(tmp_path / "clip.mp4"), fps=8)
    back, fps = read_mp4(path)
    assert back.shape == (32, 256, 256, 3) and fps == 8
    assert S.score_clip(back, "a yellow triangle moving top to bottom").adherent
