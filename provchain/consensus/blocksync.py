"""Block sync bookkeeping: which heights to ask which peers for, and which fetched blocks come next.

A node that is behind asks for the next WINDOW heights at once (as many as its peers have: one when it
is one block behind), spread over the peers that reported them (at most PER_PEER outstanding each),
instead of one block per round trip. Blocks arrive in any order and wait here until their height is next;
the driver then checks each block's commit against the validator set and the block against its state
before feeding it to consensus, exactly like a block fetched one at a time. A request unanswered after
RETRY_S goes to another peer than the one that did not answer, when another has the block. A block that
passed the checks counts as an outstanding request until the height moves on, so it is not asked for again
while consensus commits it. Pure: no I/O, the caller passes the time.
"""

from __future__ import annotations

WINDOW = 64  # heights ahead of the next one
PER_PEER = 16  # outstanding requests per peer
RETRY_S = 1.0
MAX_BUFFERED_BYTES = 64 * 1024 * 1024


class BlockSync:
    def __init__(self, window: int = WINDOW, per_peer: int = PER_PEER, retry_s: float = RETRY_S,
                 max_bytes: int = MAX_BUFFERED_BYTES):
        self.window = window
        self.per_peer = per_peer
        self.retry_s = retry_s
        self.max_bytes = max_bytes
        self.asked: dict[int, tuple[str, float]] = {}  # height -> (peer, when)
        self.fetched: dict[int, tuple[str, object, object, int]] = {}  # height -> (peer, block, commit, size)
        self._bytes = 0
        self._turn = 0

    def requests(self, next_height: int, peer_heights: dict[str, int], now: float) -> list[tuple[str, int]]:
        """(peer, height) requests to send now for heights from `next_height` on."""
        self._forget_below(next_height)
        load: dict[str, int] = {}
        failed: dict[int, str] = {}  # height -> the peer that did not answer in time
        for h, (peer, when) in list(self.asked.items()):
            if now - when >= self.retry_s:
                del self.asked[h]
                failed[h] = peer
            else:
                load[peer] = load.get(peer, 0) + 1
        out = []
        peers = sorted(peer_heights)
        for h in range(next_height, next_height + self.window):
            if self._bytes >= self.max_bytes:
                break
            if h in self.asked or h in self.fetched:
                continue
            have = [p for p in peers if peer_heights[p] >= h and load.get(p, 0) < self.per_peer]
            if not have:
                if not any(peer_heights[p] >= h for p in peers):
                    break  # nobody has it (nor anything above)
                continue  # everyone who has it is busy
            have = [p for p in have if p != failed.get(h)] or have  # another peer if there is one
            self._turn += 1
            peer = have[self._turn % len(have)]
            load[peer] = load.get(peer, 0) + 1
            self.asked[h] = (peer, now)
            out.append((peer, h))
        return out

    def fetched_block(self, peer: str, height: int, block, commit, size: int, next_height: int) -> bool:
        """Keep a block fetched ahead of time; False when it was not asked for or is out of the window."""
        if not next_height < height < next_height + self.window or height in self.fetched:
            return False
        if height not in self.asked:
            return False
        del self.asked[height]
        self.fetched[height] = (peer, block, commit, size)
        self._bytes += size
        return True

    def take(self, height: int):
        """The fetched (peer, block, commit) for `height`, removed, or None (a request still outstanding
        stays so)."""
        item = self.fetched.pop(height, None)
        if item is None:
            return None
        self._bytes -= item[3]
        return item[:3]

    def handed_over(self, peer: str, height: int, now: float) -> None:
        """`peer`'s block for `height` passed the checks and goes to consensus: count it as a request of
        that peer made now, so it is not asked for again while it is being committed (the height moving
        on forgets it; should committing fail, e.g. a full disk, it is asked again after retry_s)."""
        self.asked[height] = (peer, now)

    def _forget_below(self, height: int) -> None:
        for h in [h for h in self.fetched if h < height]:
            self._bytes -= self.fetched.pop(h)[3]
        self.asked = {h: a for h, a in self.asked.items() if h >= height}
