"""The docs are kept true by the code: every route, CLI flag, `verify --json` field and link they name exists.

Reads README.md and docs/*.md as a reader would: code spans and code blocks are what a reader types or
reads in the output, so each one that names a route, a `provchain`/`verify` flag or a verify field must
exist in the code; a route the code serves must appear in the route table.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from provchain.chain.store import MemoryKV
from provchain.cli import build_parser as provchain_parser
from provchain.consensus.rpc.routes import ROUTES
from provchain.explorer.server import make_app
from provchain.provenance.app import ProvenanceApp
from provchain.provenance.verify import build_parser as verify_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
API = ROOT / "docs" / "api.md"
SCHEMA = ROOT / "docs" / "verify-output.schema.json"

CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```.*?$(.*?)^```", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HTTP_ROUTE = re.compile(r"\b(GET|POST) (/[A-Za-z0-9_/{}.\-]*)")
WEBSOCKET_ONLY = {"subscribe", "unsubscribe", "unsubscribe_all"}


def code_lines(path: Path) -> list[str]:
    """Every line of every code block, and every code span, of a markdown file."""
    text = path.read_text()
    lines = [ln.strip() for block in FENCE.findall(text) for ln in block.splitlines()]
    return lines + [m.strip() for m in CODE_SPAN.findall(FENCE.sub("", text))]


def section(path: Path, heading: str) -> str:
    text = path.read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end > 0 else None]


def table_first_cells(text: str) -> list[str]:
    """The first column of the first table in `text`."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    rows = []
    for ln in lines[start:]:
        if not ln.startswith("|"):
            break
        if not set(ln) <= set("|-: "):
            rows.append(ln)
    return [row.split("|")[1].strip() for row in rows[1:]]  # rows[0] is the header


# --- links ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_stay_inside_the_repository_and_resolve(doc):
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (doc.parent / target.split("#")[0]).resolve()
        assert ROOT in path.parents or path == ROOT, f"{doc.name} links outside the repository: {target}"
        assert path.exists(), f"{doc.name} links to a missing file: {target}"
    assert "../shared" not in doc.read_text(), f"{doc.name} points outside the repository (../shared)"


# --- verify --json fields ------------------------------------------------------------------------------

def schema_property_names(node) -> set[str]:
    names = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                names |= set(value)
            names |= schema_property_names(value)
    elif isinstance(node, list):
        for item in node:
            names |= schema_property_names(item)
    return names


def test_every_verify_field_the_docs_name_is_in_the_schema():
    known = schema_property_names(json.loads(SCHEMA.read_text()))
    named = set()
    for cell in table_first_cells(section(API, "## `verify --json` fields")):
        for span in CODE_SPAN.findall(cell):
            named |= {part for part in re.split(r"[.\[\], ]+", span) if part}
    assert len(named) > 20, named  # the table was found and read
    assert named - known == set(), f"docs/api.md names verify fields the schema lacks: {sorted(named - known)}"


# --- RPC routes ----------------------------------------------------------------------------------------

def test_rpc_route_table_matches_the_node():
    table = {}
    for line in section(API, "## Node RPC").splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.split("|")[1:-1]]
            for name in CODE_SPAN.findall(cells[0]):
                table[name] = cells[1]
    served = set(ROUTES)
    for name, status in table.items():
        if status == "not applicable":
            assert name not in served, f"{name} is served but documented as not applicable"
        elif name not in WEBSOCKET_ONLY:
            assert name in served, f"docs/api.md documents route {name} ({status}) that the node does not serve"
    assert served - set(table) == set(), f"routes served but missing from the table: {sorted(served - set(table))}"


def served_paths() -> set[str]:
    node = {"/", "/websocket", "/broadcast_tx", "/broadcast_tx_batch", "/p2p"} | {"/" + name for name in ROUTES}
    node |= {path for _, path, _ in ProvenanceApp(MemoryKV(), "docs-test", 1024).routes()}
    explorer = {r.canonical for r in make_app("http://127.0.0.1:9").router.resources()}
    return node | explorer


def test_every_http_route_the_docs_name_is_served():
    served = served_paths()
    missing = set()
    for doc in DOCS:
        for text in code_lines(doc):
            for _, path in HTTP_ROUTE.findall(text):
                path = path.rstrip(".")
                if path not in served and not any(p.startswith(path.rstrip("/") + "/") for p in served
                                                  if path.endswith("/")):
                    missing.add(f"{doc.name}: {path}")
    assert not missing, f"routes the docs name that nothing serves: {sorted(missing)}"


# --- CLI flags -----------------------------------------------------------------------------------------

def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {opt for action in parser._actions for opt in action.option_strings}


def resolve(words: list[str]) -> tuple[argparse.ArgumentParser, str]:
    """The parser a command line reaches, following subcommands."""
    parser = verify_parser() if words[0] == "verify" else provchain_parser()
    name = words[0]
    for word in words[1:]:
        sub = subcommands(parser).get(word)
        if sub is None:
            break
        parser, name = sub, f"{name} {word}"
    return parser, name


def test_every_cli_flag_the_docs_name_exists():
    checked, missing = 0, set()
    for doc in DOCS:
        for line in code_lines(doc):
            line = line.lstrip("$ ")
            for command in re.split(r"\s*(?:&&|\||;)\s*", line):
                words = command.split()
                if not words or words[0] not in ("provchain", "verify"):
                    continue
                parser, name = resolve(words)
                for word in words[1:]:
                    flag = re.match(r"\[?(--?[A-Za-z][\w-]*)", word)
                    if flag:
                        checked += 1
                        if flag.group(1) not in options(parser):
                            missing.add(f"{doc.name}: {name} {flag.group(1)}")
    assert checked > 30, checked  # the command lines were found
    assert not missing, f"flags the docs name that the CLI lacks: {sorted(missing)}"
