"""Prompts in plain words (provchain/generator/prompt.py): synonyms, directions, word order, ignored words."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provchain.generator import data as D
from provchain.generator.prompt import understand, vocabulary_help

ROOT = Path(__file__).resolve().parents[2]


def test_training_captions_come_out_unchanged():
    """A caption the model was trained on is already in its words: same caption, so the same clip."""
    rng = np.random.default_rng(5)
    captions = {D.sample_scene(rng, "any", caption_dropout=0.3).caption for _ in range(2000)}
    captions |= set(D.heldout_prompts())
    for c in captions:
        u = understand(c)
        assert u.caption == c and u.ignored == (), c


@pytest.mark.parametrize("prompt, direction", [
    ("a blue square moving up", "bottom to top"),
    ("a red circle moving right", "left to right"),
    ("a green triangle going left", "right to left"),
    ("a white circle heading down", "top to bottom"),
    ("a red circle moving to the right", "left to right"),
    ("a red circle moving rightward", "left to right"),
    ("a red circle going to the left", "right to left"),
    ("a yellow square upward", "bottom to top"),
    ("a yellow square moving downwards", "top to bottom"),
    ("a purple disc falling", "top to bottom"),
    ("a purple disc rising", "bottom to top"),
    ("the blue square descends from top to bottom", "top to bottom"),
    ("a ball coming from the left", "left to right"),
    ("a red circle bouncing right to left", "right to left"),
])
def test_directions_in_plain_words(prompt, direction):
    u = understand(prompt)
    assert u.direction == direction and u.ignored == ()


@pytest.mark.parametrize("prompt, colour, shape", [
    ("a crimson ball", "red", "circle"), ("an emerald box", "green", "square"),
    ("a navy pyramid", "blue", "triangle"), ("a golden dot", "yellow", "circle"),
    ("a violet block", "purple", "square"), ("an ivory disc", "white", "circle"),
    ("two red squares", "red", "square"),
])
def test_colour_and_shape_synonyms(prompt, colour, shape):
    u = understand(prompt)
    assert (u.colour, u.shape) == (colour, shape)


def test_word_order_and_filler_do_not_matter():
    same = ["a red ball going right over a striped green background",
            "on a green striped background, a red ball goes right",
            "going right: a ball, red, on a green stripy backdrop",
            "please make a video of a red circle heading to the right in front of a striped green background"]
    got = {(u.colour, u.shape, u.direction, u.texture, u.bg_colour) for u in map(understand, same)}
    assert got == {("red", "circle", "left to right", "striped", "green")}
    assert all(understand(p).ignored == () for p in same)


def test_colours_go_to_the_object_or_the_background():
    assert (understand("a red ball on blue").colour, understand("a red ball on blue").bg_colour) == ("red", "blue")
    u = understand("a square that is green, floating to the top of a red noisy background")
    assert (u.colour, u.bg_colour, u.direction) == ("green", "red", "bottom to top")
    u = understand("an orange ball")  # orange exists only as a background colour
    assert u.colour is None and u.ignored == ("orange",)


def test_ignored_words_are_reported_once_each():
    u = understand("a red ball moving slowly right past a dog")
    assert u.ignored == ("slowly", "past", "dog") and u.direction == "left to right"
    u = understand("a red ball going left then right")
    assert u.direction == "right to left" and u.ignored == ("right",)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_understood_without_error(text):
    u = understand(text)
    assert all(w in D.VOCAB for w in u.caption.split())
    assert len(u.caption.split()) <= D.MAX_PROMPT_WORDS


def test_vocabulary_help_names_every_model_word():
    text = vocabulary_help()
    for w in (*D.COLOURS, *D.SHAPES, *D.TEXTURES, *D.BG_COLOURS, "right", "left", "up", "down"):
        assert w in text


def test_the_paraphrase_set_is_held_out():
    """bench/heldout_paraphrases.json: held-out triples only, no training caption among its prompts."""
    doc = json.loads((ROOT / "bench" / "heldout_paraphrases.json").read_text())
    entries = doc["prompts"]
    assert len(entries) == 48
    rng = np.random.default_rng(0)
    training = {D.sample_scene(rng, "train").caption for _ in range(5000)}
    for e in entries:
        assert D.is_heldout(e["colour"], e["shape"], e["direction"]), e
        assert e["prompt"] not in training and e["prompt"] not in D.heldout_prompts()


def test_the_paraphrase_set_reads_as_labelled():
    """What BENCHMARKS.md's paraphrase figure measures is the model, not the parser: every prompt of
    the set is read as its label."""
    doc = json.loads((ROOT / "bench" / "heldout_paraphrases.json").read_text())
    for e in doc["prompts"]:
        u = understand(e["prompt"])
        assert (u.colour, u.shape, u.direction, u.bg_colour) == (e["colour"], e["shape"], e["direction"],
                                                                 e["bg_colour"]), e["prompt"]
        assert u.ignored == ()
