"""A clock the test moves: cooldowns, cache ages and retry pauses without waiting."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeClock:
    """A clock (``time.monotonic`` or ``time.time`` alike) that moves only when told.

    ``sleep`` stands in for ``time.sleep``: it records the pause and moves the clock by
    it, so code that waits and then reads the clock sees the time it waited pass.
    """

    now: float = 1_000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
