"""The CLI explains itself: every subcommand and option has help, --version works, completion prints."""
from __future__ import annotations

import argparse
import io
import subprocess
import sys

import pytest

from provchain.cli import build_parser
from provchain.cli_generate import ProgressBar, describe
from provchain.provenance.register import Registration


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return dict(a.choices)
    return {}


def test_every_subcommand_and_option_has_help():
    parser = build_parser()
    subs = subparsers(parser)
    assert {"node", "testnet", "devnet", "keys", "register", "generate", "outbox", "explorer",
            "completion"} <= set(subs)
    for name, sp in subs.items():
        assert sp.description, name
        for a in sp._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            assert a.help, f"provchain {name} {a.option_strings or a.dest} has no help text"
        text = sp.format_help()
        for a in sp._actions:  # a default worth knowing is shown
            if a.option_strings and a.default not in (None, False, argparse.SUPPRESS) \
                    and not isinstance(a, argparse._HelpAction):
                assert str(a.default) in text, f"provchain {name} {a.option_strings[0]}: default not shown"


@pytest.mark.parametrize("argv", [["-m", "provchain", "--version"]])
def test_version(argv):
    out = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("provchain ")


def test_completion_script_names_the_subcommands():
    out = subprocess.run([sys.executable, "-m", "provchain", "completion", "bash"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "complete" in out.stdout
    for name in ("generate", "register", "devnet", "--seed"):
        assert name in out.stdout


def test_generate_help_lists_the_vocabulary():
    text = subparsers(build_parser())["generate"].format_help()
    for w in ("red", "circle", "ball", "triangle", "to the right", "upward", "striped", "grey"):
        assert w in text


def test_progress_rate_counts_from_the_first_frame():
    t = [100.0]
    out = io.StringIO()
    bar = ProgressBar(out=out, clock=lambda: t[0])
    t[0] = 110.0  # background + frame 0 took 10 s
    bar(1, 33)
    first = out.getvalue()
    assert "frames/s" not in first  # one frame: no rate yet (was ~150,000 fps)
    t[0] = 112.0
    bar(5, 33)  # 4 frames in 2 s
    assert "2.0 frames/s" in out.getvalue() and "about 14 s left" in out.getvalue()
    t[0] = 126.0
    bar(33, 33)
    assert out.getvalue().endswith("\n")


def test_existing_record_says_whose_it_is():
    mine = "AB" * 32
    reg = Registration("CD" * 32, 42, "2026-01-01T00:00:00Z", True, "EF" * 32)
    assert f"(already registered by {'EF' * 32} at height 42)" in describe(reg, mine)
    assert "(already registered by you at height 42)" in describe(
        Registration("CD" * 32, 42, "t", True, mine), mine.lower())
    assert "already" not in describe(Registration("CD" * 32, 43, "t", False, mine), mine)


def test_verify_version_and_completion():
    out = subprocess.run([sys.executable, "-c", "import sys; from provchain.provenance.verify import main; "
                          "sys.exit(main(['--version']))"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("verify ")
    out = subprocess.run([sys.executable, "-m", "provchain", "completion", "bash", "--command", "verify"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--genesis" in out.stdout
