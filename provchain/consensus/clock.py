"""Time and timers for the consensus driver, behind one small interface so a simulation can replace them.

The driver reads the wall clock (vote timestamps), a monotonic clock (rate limits) and schedules
callbacks; production uses the asyncio loop, tests/sim a seeded simulated clock.
"""

from __future__ import annotations

import asyncio
import time


class AsyncioClock:
    def now_ms(self) -> int:
        """Wall-clock milliseconds since the epoch (vote timestamps)."""
        return int(time.time() * 1000)

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay_s: float, fn, *args):
        """Run fn(*args) after delay_s seconds; returns a handle with cancel()."""
        return asyncio.get_event_loop().call_later(delay_s, fn, *args)
