"""Prompts in plain words: maps what people write onto the captions the built-in model was trained on.

The model knows one caption shape, "a COLOUR SHAPE VERB DIRECTION [over a TEXTURE COLOUR background]",
with a small vocabulary (data.py). People write "a red ball going right", "heading down",
"on a blue striped backdrop, a green box rises". `understand` finds the colour, shape, direction,
verb, texture and background colour in any order, through synonyms (SYNONYMS, DIRECTION_PHRASES),
and rebuilds the caption in the model's order. Grammar words (FILLER) are dropped silently; any other
word the model can't use is reported in `Understood.ignored`, so the user can be told once.

A prompt that already is a training caption comes out unchanged (the same clip for the same seed).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import data as D

# word -> the model's word (colours, shapes, verbs, textures); plurals and -ish forms are added below
SYNONYMS: dict[str, str] = {
    # object and background colours
    "crimson": "red", "scarlet": "red", "ruby": "red", "cherry": "red",
    "emerald": "green", "lime": "green", "olive": "green",
    "navy": "blue", "azure": "blue", "cobalt": "blue", "sapphire": "blue",
    "gold": "yellow", "golden": "yellow", "lemon": "yellow",
    "snow": "white", "ivory": "white", "cream": "white",
    "violet": "purple", "magenta": "purple", "lilac": "purple", "lavender": "purple", "mauve": "purple",
    "gray": "grey", "silver": "grey", "ginger": "orange", "tangerine": "orange",
    # shapes
    "ball": "circle", "disc": "circle", "disk": "circle", "dot": "circle", "round": "circle",
    "sphere": "circle", "orb": "circle", "blob": "circle",
    "box": "square", "block": "square", "cube": "square", "tile": "square", "rectangle": "square",
    "triangular": "triangle", "pyramid": "triangle", "wedge": "triangle",
    # verbs (which one does not change the motion; the model saw all four)
    "move": "moving", "moves": "moving", "going": "moving", "goes": "moving", "go": "moving",
    "heading": "moving", "heads": "moving", "travelling": "moving", "traveling": "moving",
    "travels": "moving", "rolling": "moving", "rolls": "moving", "running": "moving", "flying": "moving",
    "flies": "moving", "racing": "moving", "speeding": "moving", "zooming": "moving", "passing": "moving",
    "coming": "moving", "comes": "moving", "travel": "moving",
    "bounce": "bouncing", "bounces": "bouncing", "bouncy": "bouncing", "hopping": "bouncing",
    "slide": "sliding", "slides": "sliding", "gliding": "sliding", "glides": "sliding",
    "drift": "drifting", "drifts": "drifting", "floating": "drifting", "floats": "drifting",
    # textures
    "stripes": "striped", "stripy": "striped", "stripey": "striped", "stripe": "striped", "lined": "striped",
    "checked": "checkered", "chequered": "checkered", "checker": "checkered", "checkers": "checkered",
    "checkerboard": "checkered", "chessboard": "checkered", "plaid": "checkered",
    "noise": "noisy", "speckled": "noisy", "grainy": "noisy", "mottled": "noisy",
    "fading": "gradient", "faded": "gradient", "graduated": "gradient", "ombre": "gradient",
}
for _c in ("red", "green", "blue", "yellow", "white", "purple", "grey", "orange"):
    SYNONYMS.setdefault(_c + "ish", _c)
SYNONYMS.update({"reddish": "red", "greyish": "grey", "grayish": "grey", "purplish": "purple"})
for _s in ("circle", "square", "triangle", "ball", "disc", "disk", "dot", "box", "block", "cube", "tile",
           "rectangle", "sphere", "orb", "blob", "pyramid", "wedge"):
    SYNONYMS.setdefault(_s + "s", SYNONYMS.get(_s, _s))
SYNONYMS["boxes"] = "square"

_R, _L, _D, _U = "left to right", "right to left", "top to bottom", "bottom to top"
# phrases (as word tuples) that name a direction; the longest match at a position wins
DIRECTION_PHRASES: dict[tuple[str, ...], str] = {tuple(d.split()): d for d in D.DIRECTIONS}
for _words, _d in [
    ("right", _R), ("rightward", _R), ("rightwards", _R), ("to the right", _R), ("towards the right", _R),
    ("toward the right", _R), ("from the left", _R), ("from left", _R), ("east", _R), ("eastward", _R),
    ("eastwards", _R),
    ("left", _L), ("leftward", _L), ("leftwards", _L), ("to the left", _L), ("towards the left", _L),
    ("toward the left", _L), ("from the right", _L), ("from right", _L), ("west", _L), ("westward", _L),
    ("westwards", _L),
    ("down", _D), ("downward", _D), ("downwards", _D), ("to the bottom", _D), ("towards the bottom", _D),
    ("from the top", _D), ("from top", _D), ("from above", _D), ("falling", _D), ("falls", _D), ("fall", _D),
    ("dropping", _D), ("drops", _D), ("descending", _D), ("descends", _D), ("sinking", _D), ("sinks", _D),
    ("south", _D), ("southward", _D), ("southwards", _D),
    ("up", _U), ("upward", _U), ("upwards", _U), ("to the top", _U), ("towards the top", _U),
    ("from the bottom", _U), ("from bottom", _U), ("from below", _U), ("rising", _U), ("rises", _U),
    ("rise", _U), ("climbing", _U), ("climbs", _U), ("ascending", _U), ("ascends", _U), ("lifting", _U),
    ("north", _U), ("northward", _U), ("northwards", _U), ("skyward", _U), ("skywards", _U),
]:
    DIRECTION_PHRASES[tuple(_words.split())] = _d
_LONGEST = max(len(p) for p in DIRECTION_PHRASES)

BACKGROUND_NOUNS = ("background", "backdrop", "bg", "backround", "wall", "scene", "floor")
CLAUSE_MARKERS = ("over", "on", "against", "atop", "behind", "with", "front")  # a background follows
# grammar and framing words that carry nothing for this model; dropped without a note
FILLER = frozenset(
    "a an the one single some this that which who it its is are be being was and or but then while as "
    "of in into onto on over against atop across along through around at by for from to toward towards "
    "with front behind there here itself screen frame video clip animation film shot showing shows show "
    "colored coloured color colour shape object thing please make me generate create draw render "
    "motion".split())


@dataclass(frozen=True)
class Understood:
    caption: str            # the prompt in the model's words and order
    colour: str | None
    shape: str | None
    direction: str | None
    texture: str | None
    bg_colour: str | None
    ignored: tuple[str, ...]  # words the model can't use, in the order written


def _words(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+", prompt.lower())


def _direction_spans(ws: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, direction) of each direction phrase, the model's own ("top to bottom") found first
    so that "from top to bottom" is not read as "from top" + "bottom"; then the longest match wins."""
    spans: list[tuple[int, int, str]] = []
    taken: set[int] = set()
    for canonical_only in (True, False):
        i = 0
        while i < len(ws):
            for n in range(min(_LONGEST, len(ws) - i), 0, -1):
                d = DIRECTION_PHRASES.get(tuple(ws[i:i + n]))
                if d is not None and (n == 3 or not canonical_only) and not taken & set(range(i, i + n)):
                    spans.append((i, i + n, d))
                    taken.update(range(i, i + n))
                    i += n
                    break
            else:
                i += 1
    return sorted(spans)


def understand(prompt: str) -> Understood:
    ws = _words(prompt)
    kinds: list[tuple[str, str] | None] = [None] * len(ws)  # per word: (slot, model word)
    direction = None
    ignored: list[str] = []
    taken = set()
    for a, b, d in _direction_spans(ws):
        taken.update(range(a, b))
        if direction is None:
            direction = d
        elif d != direction:
            ignored.append(" ".join(ws[a:b]))
    for i, w in enumerate(ws):
        if i in taken:
            continue
        m = SYNONYMS.get(w, w)
        if m in D.SHAPES:
            kinds[i] = ("shape", m)
        elif m in D.TEXTURES:
            kinds[i] = ("texture", m)
        elif m in D.VERBS:
            kinds[i] = ("verb", m)
        elif m in D.COLOURS or m in D.BG_COLOURS:
            kinds[i] = ("colour", m)
        elif w in BACKGROUND_NOUNS:
            kinds[i] = ("bgnoun", w)

    def owner(i: int) -> str:
        """Whose colour is word i. Written after its noun ('a circle, red', 'a triangle in red'), the
        noun just before it; otherwise the next noun it describes ('red ball', 'blue striped
        background'); with none after it, a background if a clause marker ('over', 'on', ...) came
        first ('a ball on blue'), else the nearest noun before it."""
        for j in range(i - 1, -1, -1):
            if ws[j] in CLAUSE_MARKERS:
                break
            if kinds[j] and kinds[j][0] == "shape":
                return "object"
            if kinds[j] or j in taken or ws[j] not in FILLER:
                break
        for j in range(i + 1, len(ws)):
            if kinds[j] and kinds[j][0] == "shape":
                return "object"
            if kinds[j] and kinds[j][0] in ("texture", "bgnoun"):
                return "background"
        for j in range(i - 1, -1, -1):
            if ws[j] in CLAUSE_MARKERS:
                return "background"
            if kinds[j] and kinds[j][0] == "shape":
                return "object"
            if kinds[j] and kinds[j][0] in ("texture", "bgnoun"):
                return "background"
        return "object"

    found: dict[str, str] = {}
    for i, w in enumerate(ws):
        if i in taken:
            continue
        k = kinds[i]
        if k is None:
            if w not in FILLER:
                ignored.append(w)
            continue
        slot, m = k
        if slot == "bgnoun":
            continue
        if slot == "colour":
            slot = "colour" if owner(i) == "object" else "bg_colour"
            palette = D.COLOURS if slot == "colour" else D.BG_COLOURS
            if m not in palette:
                ignored.append(w)
                continue
        if slot in found:
            if found[slot] != m:
                ignored.append(w)
            continue
        found[slot] = m
    colour, shape, texture, bg = (found.get(k) for k in ("colour", "shape", "texture", "bg_colour"))
    verb = found.get("verb", "moving" if direction else None)
    parts = ["a", colour, shape, verb, direction]
    if texture or bg:
        parts += ["over", "a", texture, bg, "background"]
    caption = " ".join(p for p in parts if p)
    if caption == "a":
        caption = ""
    return Understood(caption, colour, shape, direction, texture, bg, tuple(ignored))


def vocabulary_help() -> str:
    """The vocabulary as a few lines of plain text (for `generate --help` and the README)."""
    def syn(target):
        return sorted(w for w, t in SYNONYMS.items() if t == target and not w.endswith(("s", "ish")))
    lines = [
        "colours: " + ", ".join(f"{c} ({'/'.join(syn(c))})" if syn(c) else c for c in D.COLOURS),
        "shapes: " + ", ".join(f"{s} ({'/'.join(syn(s))})" for s in D.SHAPES),
        "directions: right (to the right, rightward, left to right), left (to the left, leftward, "
        "right to left), down (downward(s), falling, top to bottom), up (upward(s), rising, bottom to top)",
        "backgrounds (optional): " + ", ".join(D.TEXTURES) + " in " + ", ".join(D.BG_COLOURS)
        + ", e.g. 'over a striped green background'",
    ]
    return "\n".join(lines)
