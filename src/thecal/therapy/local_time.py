"""Time arithmetic that stays right whether a moment carries a time zone or not.

The pump runs on its own local clock, which knows nothing of daylight saving:
thecal's default is a naive `datetime` on that clock, where every day is exactly
24 hours. A caller may instead pass time-zone-aware moments (a clinic server in
UTC, a programmer in the patient's zone). Python's own arithmetic gets those
wrong across a daylight-saving change: ``aware + timedelta`` keeps the wall-clock
time and ``a - b`` with one shared tzinfo ignores the offsets, so "10 days of
pumping" could come out an hour off. These two functions do the arithmetic on
real elapsed time for aware moments and refuse to mix aware with naive.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from thecal.therapy.quantities import Duration

__all__ = ["elapsed", "is_aware", "shift"]


def is_aware(moment: datetime) -> bool:
    """True when `moment` carries a usable UTC offset."""
    return moment.tzinfo is not None and moment.utcoffset() is not None


def elapsed(earlier: datetime, later: datetime) -> Duration:
    """Real time from `earlier` to `later` (negative when `later` comes first).

    Both naive (the pump's clock) or both aware; mixing them is a `ValueError`.
    """
    if is_aware(earlier) != is_aware(later):
        raise ValueError(
            f"cannot compare {earlier.isoformat()} and {later.isoformat()}: one has a time "
            "zone and the other does not; give both with an offset or both without"
        )
    if is_aware(earlier):
        return Duration.from_timedelta(later.astimezone(UTC) - earlier.astimezone(UTC))
    return Duration.from_timedelta(later - earlier)


def shift(moment: datetime, delta: timedelta) -> datetime:
    """`moment` plus `delta` of real elapsed time, in `moment`'s own zone (if any)."""
    if is_aware(moment):
        return (moment.astimezone(UTC) + delta).astimezone(moment.tzinfo)
    return moment + delta
