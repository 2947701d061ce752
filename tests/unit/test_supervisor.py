"""The devnet's restart policy, and the supervisor on real (tiny) child processes with a fake clock."""

import io
import signal

from provchain.devnet.supervisor import Child, RestartPolicy, Supervisor, exit_reason, restart_delay


def test_back_off_doubles_is_capped_and_gives_up():
    p = RestartPolicy(first_delay=1, max_delay=8, max_failures=6)
    assert [restart_delay(f, p) for f in range(1, 8)] == [1, 2, 4, 8, 8, 8, None]


def test_exit_reasons_name_the_signal():
    assert exit_reason(-signal.SIGKILL) == "killed by SIGKILL"
    assert exit_reason(3) == "exited with code 3"


def kill(c):
    c.proc.send_signal(signal.SIGKILL)
    c.proc.wait(5)


def test_dead_child_is_restarted_after_its_delay_and_others_keep_running(tmp_path):
    out = io.StringIO()
    a = Child("validator a", ["sleep", "60"], tmp_path / "a.log")
    b = Child("validator b", ["sleep", "60"], tmp_path / "b.log")
    sup = Supervisor([a, b], RestartPolicy(first_delay=2, max_delay=8, stable_after=30, max_failures=3), out)
    (tmp_path / "a.log").write_text("starting\nerror: cannot start\n")  # what a node that cannot start leaves
    try:
        for c in (a, b):
            c.start()
            c.started_at = 0.0
        b_pid = b.proc.pid
        kill(a)
        sup.poll(now=1.0)
        assert "validator a killed by SIGKILL after 1.0 s; restarting it in 2 s" in out.getvalue()
        assert not a.running()
        sup.poll(now=2.5)
        assert not a.running()  # still waiting out the back-off
        sup.poll(now=3.0)
        assert a.running() and "restarted validator a" in out.getvalue()
        assert b.running() and b.proc.pid == b_pid
        # quick deaths in a row: the delay doubles, then the supervisor gives up on that child only
        a.started_at = 3.0
        kill(a)
        sup.poll(now=4.0)
        assert "restarting it in 4 s" in out.getvalue()
        sup.poll(now=8.0)
        a.started_at = 8.0
        kill(a)
        sup.poll(now=9.0)
        assert "restarting it in 8 s" in out.getvalue()
        sup.poll(now=17.0)
        a.started_at = 17.0
        kill(a)
        sup.poll(now=18.0)
        assert "not restarting it" in out.getvalue() and a.gave_up
        assert out.getvalue().rstrip().endswith("a.log ends: error: cannot start")
        sup.poll(now=100.0)
        assert not a.running() and b.running()
    finally:
        sup.stop(grace=2)
    assert not b.running()


def test_back_off_resets_after_a_stable_run(tmp_path):
    out = io.StringIO()
    a = Child("validator a", ["sleep", "60"], tmp_path / "a.log")
    sup = Supervisor([a], RestartPolicy(first_delay=1, stable_after=10), out)
    try:
        a.start()
        a.started_at = 0.0
        a.failures = 3
        sup.poll(now=11.0)  # up 11 s: healthy again
        assert a.failures == 0
        kill(a)
        sup.poll(now=50.0)
        assert "restarting it in 1 s" in out.getvalue()
    finally:
        sup.stop(grace=2)
