"""Consensus WAL: every event type round-trips; a torn tail replays the good prefix; old heights are deleted."""

from __future__ import annotations

import struct
import zlib

import pytest

from provchain.chain.crypto import PrivateKey
from provchain.chain.encoding import encode, sha256
from provchain.chain.types import (PRECOMMIT, PREVOTE, Block, Commit, DuplicateVoteEvidence, InvalidError,
                                   Proposal, Validator, ValidatorSet, Vote)
from provchain.consensus import machine as m
from provchain.consensus.wal import WAL, event_from_obj, event_to_obj

CHAIN = "wal-test"
KEYS = [PrivateKey.from_seed(bytes([0x50 + i]) * 32) for i in range(4)]
VALSET = ValidatorSet(tuple(Validator(k.pubkey, 1) for k in KEYS))
H = 7


def _block(height: int, txs=(b"tx-1", b"tx-2")) -> Block:
    last = Commit.from_votes([Vote(PRECOMMIT, height - 1, 0, sha256(b"prev"), 5 + i, b"").signed(k, CHAIN)
                              for i, k in enumerate(KEYS[:3])])
    a = Vote(PREVOTE, height - 1, 0, sha256(b"x"), 1, b"").signed(KEYS[3], CHAIN)
    b = Vote(PREVOTE, height - 1, 0, sha256(b"y"), 1, b"").signed(KEYS[3], CHAIN)
    return Block.make(dict(chain_id=CHAIN, height=height, time_ms=123_456, last_block_hash=sha256(b"prev"),
                           validators_hash=VALSET.hash(), app_hash=sha256(b"app"), proposer_address=KEYS[0].address),
                      txs, (DuplicateVoteEvidence.of(a, b),), last)


BLOCK = _block(H)


def all_events() -> list:
    """One of every event type the machine takes (and both shapes of the optional fields)."""
    last_commit = BLOCK.last_commit
    prop = Proposal(H, 1, 0, BLOCK.hash, b"").signed(KEYS[0], CHAIN)
    commit = Commit.from_votes([Vote(PRECOMMIT, H, 1, BLOCK.hash, 9 + i, b"").signed(k, CHAIN)
                                for i, k in enumerate(KEYS)])
    return [
        m.StartHeight(H, last_commit),
        m.StartHeight(1, None),
        m.ProposalReceived(prop, BLOCK, True),
        m.ProposalReceived(prop, BLOCK, False),
        m.VoteReceived(Vote(PREVOTE, H, 1, BLOCK.hash, 77, b"").signed(KEYS[1], CHAIN)),
        m.VoteReceived(Vote(PRECOMMIT, H, 1, b"", 78, b"").signed(KEYS[2], CHAIN)),  # nil
        m.TimeoutFired(H, 0, m.PROPOSE),
        m.TimeoutFired(H, 2, m.PREVOTE_STEP),
        m.TimeoutFired(H, 3, m.PRECOMMIT_STEP),
        m.BlockBuilt(H, 1, BLOCK),
        m.CommitReceived(BLOCK, commit),
    ]


def test_event_objects_round_trip():
    for ev in all_events():
        back = event_from_obj(event_to_obj(ev))
        assert back == ev
        assert type(back) is type(ev)
    with pytest.raises(TypeError):
        event_to_obj("not an event")
    with pytest.raises(InvalidError):
        event_from_obj(["bogus", 1])


def test_every_event_type_is_covered():
    kinds = {type(ev) for ev in all_events()}
    assert kinds == {m.StartHeight, m.ProposalReceived, m.VoteReceived, m.TimeoutFired, m.BlockBuilt,
                     m.CommitReceived}


def test_append_replay_round_trip(tmp_path):
    events = all_events()
    wal = WAL(tmp_path / "wal")
    wal.start_height(H)
    for i, ev in enumerate(events):
        wal.append(ev, sync=(i % 2 == 0))
    assert wal.replay(H) == events
    wal.close()
    # a fresh WAL object (a restarted node) reads the same
    again = WAL(tmp_path / "wal")
    assert again.replay(H) == events
    assert again.replay(H + 1) == []
    # reopening for the same height appends after what is there
    again.start_height(H)
    extra = m.TimeoutFired(H, 9, m.PROPOSE)
    again.append(extra, sync=True)
    assert again.replay(H) == events + [extra]
    again.close()


def _write(tmp_path, events) -> tuple:
    d = tmp_path / "orig"
    wal = WAL(d)
    wal.start_height(H)
    sizes = []
    for ev in events:
        wal.append(ev, sync=True)
        sizes.append((d / f"{H:012d}.wal").stat().st_size)
    wal.close()
    return d, sizes


@pytest.mark.parametrize("last", ["vote", "commit"])
def test_torn_tail_at_every_offset(tmp_path, last):
    """A crash in the middle of writing the last record: replay gives the records before it, and the WAL
    appends cleanly after cutting the torn bytes."""
    ev = all_events()
    events = [ev[1], ev[4], ev[6], ev[5]]  # small records before, so each replay is cheap
    events.append(ev[4] if last == "vote" else ev[-1])  # the torn one: a vote, or a commit with its block
    d, sizes = _write(tmp_path, events)
    path_name = f"{H:012d}.wal"
    start, end = sizes[-2], sizes[-1]
    good, new = events[:-1], m.TimeoutFired(H, 4, m.PRECOMMIT_STEP)
    data = (d / path_name).read_bytes()
    assert len(data) == end
    work = tmp_path / "work"
    work.mkdir()
    for cut in range(start, end):
        (work / path_name).unlink(missing_ok=True)  # (rewriting in place is slow: ext4 flushes on truncate)
        (work / path_name).write_bytes(data[:cut])
        wal = WAL(work)
        assert wal.replay(H) == good, cut
        wal.start_height(H)
        assert (work / path_name).stat().st_size == start  # the torn bytes are gone
        wal.append(new, sync=False)
        assert wal.replay(H) == good + [new], cut
        wal.close()


def test_corrupt_record_stops_replay(tmp_path):
    events = all_events()[:6]
    d, sizes = _write(tmp_path, events)
    path = d / f"{H:012d}.wal"
    data = bytearray(path.read_bytes())
    # a bit inside a signature near the end of the 4th record: still canonical msgpack, so only the CRC
    # can tell
    data[sizes[3] - 10] ^= 0x01
    path.write_bytes(bytes(data))
    wal = WAL(d)
    assert wal.replay(H) == events[:3]
    wal.start_height(H)
    assert path.stat().st_size == sizes[2]
    wal.close()


def test_record_with_valid_crc_but_non_canonical_payload_stops_replay(tmp_path):
    events = all_events()[:2]
    d, sizes = _write(tmp_path, events)
    path = d / f"{H:012d}.wal"
    payload = b"\xcc\x01"  # msgpack for 1, but not canonical
    with open(path, "ab") as f:
        f.write(struct.pack(">II", len(payload), zlib.crc32(payload)) + payload)
    wal = WAL(d)
    assert wal.replay(H) == events
    wal.close()


def test_length_prefix_larger_than_file(tmp_path):
    d, sizes = _write(tmp_path, all_events()[:2])
    path = d / f"{H:012d}.wal"
    with open(path, "ab") as f:
        f.write(struct.pack(">II", 10**9, 0))
    wal = WAL(d)
    assert wal.replay(H) == all_events()[:2]
    wal.start_height(H)
    assert path.stat().st_size == sizes[-1]
    wal.close()


def test_start_height_deletes_older_heights_only(tmp_path):
    d = tmp_path / "wal"
    wal = WAL(d)
    for h in (3, 4, 5):
        wal.start_height(h)
        wal.append(m.TimeoutFired(h, 0, m.PROPOSE), sync=True)
    # start_height(5) already removed 3 and 4
    assert sorted(p.name for p in d.glob("*.wal")) == [f"{5:012d}.wal"]
    (d / f"{9:012d}.wal").write_bytes(b"")  # a later height's file is left alone
    (d / "notes.wal").write_bytes(b"keep")  # and so is anything not named by a height
    wal.start_height(6)
    names = sorted(p.name for p in d.glob("*.wal"))
    assert names == [f"{6:012d}.wal", f"{9:012d}.wal", "notes.wal"]
    assert wal.replay(5) == []
    wal.close()


def test_start_height_keeps_the_current_height(tmp_path):
    d = tmp_path / "wal"
    wal = WAL(d)
    wal.start_height(8)
    ev = m.TimeoutFired(8, 1, m.PREVOTE_STEP)
    wal.append(ev, sync=True)
    wal.close()
    wal = WAL(d)
    wal.start_height(8)
    assert wal.replay(8) == [ev]
    wal.close()


def test_records_are_framed_with_length_and_crc(tmp_path):
    ev = m.TimeoutFired(H, 0, m.PROPOSE)
    d = tmp_path / "wal"
    wal = WAL(d)
    wal.start_height(H)
    wal.append(ev, sync=True)
    wal.close()
    payload = encode(event_to_obj(ev))
    assert (d / f"{H:012d}.wal").read_bytes() == struct.pack(">II", len(payload), zlib.crc32(payload)) + payload


def test_corruption_in_the_middle_is_logged_as_an_error_with_what_was_lost(tmp_path, caplog):
    """Issue 12 finding 7: 4 records became 1 with no log line."""
    events = all_events()[:4]
    d, sizes = _write(tmp_path, events)
    path = d / f"{H:012d}.wal"
    data = bytearray(path.read_bytes())
    data[sizes[1] + 20] ^= 0x01  # inside the 3rd record (a proposal): records 3 and 4 are lost
    path.write_bytes(bytes(data))
    wal = WAL(d)
    with caplog.at_level("INFO", logger="provchain.consensus.wal"):
        wal.start_height(H)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "corrupt" in errors[0].getMessage()
    assert f"{len(data) - sizes[1]} bytes" in errors[0].getMessage() and "2 records" in errors[0].getMessage()
    assert wal.replay(H) == events[:2]
    wal.close()


def test_a_torn_tail_is_logged_at_info_only(tmp_path, caplog):
    events = all_events()[:3]
    d, sizes = _write(tmp_path, events)
    path = d / f"{H:012d}.wal"
    path.write_bytes(path.read_bytes()[:-5])
    wal = WAL(d)
    with caplog.at_level("INFO", logger="provchain.consensus.wal"):
        wal.start_height(H)
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert wal.replay(H) == events[:2]
    wal.close()


def test_an_identical_record_is_appended_once_per_height_also_after_a_restart(tmp_path):
    """Issue 12 finding 5: 50 copies of a 1 MiB proposal made a 50 MiB WAL."""
    d = tmp_path / "wal"
    ev = all_events()[2]
    wal = WAL(d)
    wal.start_height(H)
    assert wal.append(ev) is True
    assert [wal.append(ev) for _ in range(50)] == [False] * 50
    wal.close()
    wal = WAL(d)
    wal.start_height(H)
    assert wal.append(ev) is False
    assert wal.replay(H) == [ev]
    wal.close()
