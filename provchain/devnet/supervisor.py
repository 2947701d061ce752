"""Keeps a devnet's child processes running: a child that dies is reported and restarted with back-off.

One validator dying must not take the others down (a devnet should show the fault tolerance of the
chain). The restart policy is pure (`restart_delay`) so it is tested without processes; `Supervisor`
does the process I/O and is polled by the launcher's main loop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 1.0    # seconds before the first restart
    max_delay: float = 30.0     # the back-off doubles per consecutive death up to this
    stable_after: float = 30.0  # a child up this long counts as healthy again: the back-off resets
    max_failures: int = 10      # consecutive deaths (each within stable_after of its start) before giving up


def restart_delay(failures: int, policy: RestartPolicy) -> float | None:
    """Seconds to wait before restarting a child that died `failures` times in a row; None: give up."""
    if failures > policy.max_failures:
        return None
    return min(policy.max_delay, policy.first_delay * 2 ** (failures - 1))


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


def last_log_line(path: Path) -> str:
    """The last line of a log (a node that cannot start ends its log with a one-line error), or ''."""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def die_with_parent(parent: int):
    """Runs in the child before exec: SIGTERM it when the devnet process dies, even by kill -9 (Linux
    PR_SET_PDEATHSIG), so no orphaned validator keeps the ports and the database lock. The signal comes when
    the *thread* that started the child ends: start children from the main thread."""
    def setup() -> None:
        try:
            import ctypes
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return setup


class Child:
    """One supervised process: its command, log file and restart state."""

    def __init__(self, name: str, argv: list[str], log_path: Path):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.failures = 0  # consecutive deaths without a stable run in between
        self.restart_at: float | None = None
        self.gave_up = False

    def start(self) -> subprocess.Popen:
        with open(self.log_path, "ab") as logf:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=die_with_parent(os.getpid()))
        self.started_at = time.monotonic()
        self.restart_at = None
        return self.proc

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    def __init__(self, children: list[Child], policy: RestartPolicy = RestartPolicy(), out=None):
        self.children = children
        self.policy = policy
        self.out = out or sys.stderr

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def poll(self, now: float | None = None) -> None:
        """Check every child once: note deaths, schedule restarts, restart those whose delay is over."""
        now = time.monotonic() if now is None else now
        for c in self.children:
            if c.gave_up or c.proc is None:
                continue
            if c.running():
                if c.failures and now - c.started_at >= self.policy.stable_after:
                    c.failures = 0
                continue
            if c.restart_at is None:
                self._died(c, now)
            elif now >= c.restart_at:
                c.start()
                self.say(f"restarted {c.name} (pid {c.proc.pid}, restart {c.failures})")

    def _died(self, c: Child, now: float) -> None:
        up = now - c.started_at
        c.failures = 1 if up >= self.policy.stable_after else c.failures + 1
        delay = restart_delay(c.failures, self.policy)
        what = f"{c.name} {exit_reason(c.proc.returncode)} after {up:.1f} s"
        if delay is None:
            c.gave_up = True
            self.say(f"{what}; it died {c.failures - 1} times in a row, not restarting it; the others keep "
                     f"running. Its log {c.log_path} ends: {last_log_line(c.log_path)}")
            return
        c.restart_at = now + delay
        self.say(f"{what}; restarting it in {delay:g} s (see {c.log_path})")

    def procs(self) -> list[subprocess.Popen]:
        return [c.proc for c in self.children if c.proc is not None]

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every running child, SIGKILL what is left after `grace` seconds."""
        procs = self.procs()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)  # a paused child cannot handle SIGTERM
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
