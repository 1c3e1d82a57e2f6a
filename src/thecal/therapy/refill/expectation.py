"""What the reservoir should hold when a refill starts, and on what basis.

A pump only estimates its reservoir from what it delivered; the refill's aspirate is
the one real measurement. The expectation starts from the last known content (an
`ReservoirAnchor`: the volume put in at a refill, or the pump's own estimate read at an
interrogation) and takes away what the prescriptions in force since then moved
(`volume_moved`, the one multi-prescription reservoir rule: each prescription's day is
aligned to the pump's local clock when it takes over, then runs on real elapsed time).

Patient boluses are where expectations go blind. The basis says how they were counted:

* `PUMP_RECORD`: the boluses the pump itself recorded (its own estimate, or the
  patient boluses in its event log): the most exact expectation;
* `ALLOWED_BOLUSES`: no record at hand, so anything from no bolus to every bolus the
  settings allow: the range is wider by `unrecorded_allowance`, a loss smaller than that
  cannot be told from boluses, and the outcome says so;
* `NO_PATIENT_BOLUSES`: the prescriptions allow none.

Times are either all aware (a clinic) or all naive on the pump's clock (the firmware,
a programmer); `tz` aligns aware times to the pump's local day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from fractions import Fraction

from thecal.therapy.local_time import elapsed, is_aware, shift
from thecal.therapy.prescription import Prescription
from thecal.therapy.projection import VolumePattern, prescription_pattern
from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import Volume

__all__ = [
    "AnchorKind",
    "DeliveryPeriod",
    "Expectation",
    "ExpectationBasis",
    "RecordedBolus",
    "ReservoirAnchor",
    "expect_from_deliveries",
    "expect_from_pump",
    "time_moved",
    "volume_moved",
]

MICROS = 1_000_000


class AnchorKind(StrEnum):
    """Where the last known content came from."""

    FILL = "fill"
    """The volume put in at a refill (or the implant fill)."""
    PUMP_ESTIMATE = "pump_estimate"
    """The pump's own estimate, read at an interrogation."""


@dataclass(frozen=True)
class ReservoirAnchor:
    """What the reservoir held at a moment: a refill's new volume, or the pump's estimate."""

    at: datetime
    volume: Volume
    kind: AnchorKind = AnchorKind.FILL


@dataclass(frozen=True)
class DeliveryPeriod:
    """`prescription` is in force from `start` until the next period starts."""

    start: datetime
    prescription: Prescription


@dataclass(frozen=True)
class RecordedBolus:
    """A patient bolus the pump recorded giving: when it started and its volume."""

    at: datetime
    volume: Volume


class ExpectationBasis(StrEnum):
    """How patient boluses were counted in an expectation."""

    PUMP_RECORD = "pump_record"
    ALLOWED_BOLUSES = "allowed_boluses"
    NO_PATIENT_BOLUSES = "no_patient_boluses"

    @property
    def description(self) -> str:
        if self is ExpectationBasis.PUMP_RECORD:
            return "the patient boluses the pump recorded giving"
        if self is ExpectationBasis.ALLOWED_BOLUSES:
            return (
                "no record of the patient boluses given: anything from none to every bolus "
                "the settings allow"
            )
        return "the prescriptions allow no patient boluses"


@dataclass(frozen=True)
class Expectation:
    """What the reservoir should hold at `at` (mL), and how that was worked out.

    `most_likely` counts programmed delivery and the recorded patient boluses (none when
    there is no record), floored at zero; `unrecorded_allowance` is what every allowed
    but unrecorded bolus would take on top (zero unless `basis` is `ALLOWED_BOLUSES`).
    `delivered` is the delivery expected since the last fill (`fill`), the base of the
    pump's accuracy band. `ran_out_at` is when the most likely content reached zero, or
    the pump's own empty-reservoir alarm; `ran_out_earliest_at` the same with every
    allowed bolus; both None when not by `at`.
    """

    at: datetime
    since: ReservoirAnchor
    fill: ReservoirAnchor
    """The last fill: when the drug went in and how much (`since` itself unless `since`
    is a later pump estimate)."""
    most_likely: Volume
    unrecorded_allowance: Volume
    delivered: Volume
    basis: ExpectationBasis
    ran_out_at: datetime | None = None
    ran_out_earliest_at: datetime | None = None
    pump_alarm: bool = False
    """`ran_out_at` is the pump's own empty-reservoir alarm (it fell to minimum rate)."""

    @property
    def least(self) -> Volume:
        """The least it could hold if every allowed but unrecorded bolus was taken."""
        return max(self.most_likely - self.unrecorded_allowance, Volume.zero())


def _local(moment: datetime, tz: tzinfo | None) -> datetime:
    """`moment` on the pump's local clock (a naive moment already is)."""
    if not is_aware(moment):
        return moment
    if tz is None:
        raise ValueError("aware times need the pump's time zone to find its local day")
    return moment.astimezone(tz).replace(tzinfo=None)


def _micros(start: datetime, end: datetime) -> Fraction:
    return elapsed(start, end).amount * MICROS


def _periods_from(
    anchor_at: datetime, deliveries: Sequence[DeliveryPeriod]
) -> list[tuple[datetime, datetime | None, Prescription]]:
    """(start, end, prescription) pieces covering [anchor_at, ∞)."""
    ordered = sorted(deliveries, key=lambda period: period.start)
    if not ordered or ordered[0].start > anchor_at:
        raise ValueError("no prescription is in force at the reservoir anchor time")
    pieces: list[tuple[datetime, datetime | None, Prescription]] = []
    for index, period in enumerate(ordered):
        end = ordered[index + 1].start if index + 1 < len(ordered) else None
        if end is not None and end <= anchor_at:
            continue
        pieces.append((max(period.start, anchor_at), end, period.prescription))
    return pieces


def _pattern(
    prescription: Prescription,
    start: datetime,
    pump: PumpModel,
    tz: tzinfo | None,
    boluses: bool,
) -> VolumePattern:
    return prescription_pattern(
        prescription,
        _local(start, tz),
        minimum_rate=pump.minimum_rate.value,
        include_patient_boluses=boluses,
    )


def volume_moved(
    anchor_at: datetime,
    until: datetime,
    deliveries: Sequence[DeliveryPeriod],
    pump: PumpModel,
    tz: tzinfo | None,
    include_patient_boluses: bool,
) -> Volume:
    """Volume the prescriptions in force move out of the reservoir from `anchor_at` to
    `until` (programmed delivery, plus every allowed patient bolus when asked)."""
    if until <= anchor_at:
        return Volume.zero()
    total = Fraction(0)
    for start, end, prescription in _periods_from(anchor_at, deliveries):
        if start >= until:
            break
        stop = until if end is None or end > until else end
        pattern = _pattern(prescription, start, pump, tz, include_patient_boluses)
        total += pattern.volume_until(_micros(start, stop))
    return Volume(total)


def time_moved(
    anchor_at: datetime,
    volume: Volume,
    deliveries: Sequence[DeliveryPeriod],
    pump: PumpModel,
    tz: tzinfo | None,
    include_patient_boluses: bool,
) -> datetime | None:
    """The earliest moment by which the prescriptions in force since `anchor_at` have
    moved `volume` (rounded down to the microsecond: never later than the exact one);
    None if they never do."""
    if volume.amount <= 0:
        return anchor_at
    remaining = volume.amount
    for start, end, prescription in _periods_from(anchor_at, deliveries):
        pattern = _pattern(prescription, start, pump, tz, include_patient_boluses)
        needed = pattern.time_to_move(remaining)
        span = _micros(start, end) if end is not None else None
        if needed is not None and (span is None or needed <= span):
            return shift(start, timedelta(microseconds=int(needed)))
        if span is None:
            return None
        remaining -= pattern.volume_until(span)
    return None


def _allows_patient_boluses(
    anchor_at: datetime, until: datetime, deliveries: Sequence[DeliveryPeriod]
) -> bool:
    return any(
        rx.patient_bolus is not None
        for start, _, rx in _periods_from(anchor_at, deliveries)
        if start < until or start == anchor_at
    )


def _ran_out_with_records(
    anchor: ReservoirAnchor,
    at: datetime,
    boluses: Sequence[RecordedBolus],
    deliveries: Sequence[DeliveryPeriod],
    pump: PumpModel,
    tz: tzinfo | None,
) -> datetime | None:
    """When programmed delivery plus the recorded boluses emptied the anchor, by `at`."""
    given = Volume.zero()
    for bolus in boluses:
        # Before this bolus, only programmed delivery and the earlier boluses count.
        moment = time_moved(anchor.at, anchor.volume - given, deliveries, pump, tz, False)
        if moment is not None and moment <= bolus.at:
            return moment if moment <= at else None
        given = given + bolus.volume
        if given >= anchor.volume:
            return bolus.at
        moved = volume_moved(anchor.at, bolus.at, deliveries, pump, tz, False)
        if moved + given >= anchor.volume:
            return bolus.at
    moment = time_moved(anchor.at, anchor.volume - given, deliveries, pump, tz, False)
    return moment if moment is not None and moment <= at else None


def _delivered(filled: Volume, remaining: Volume) -> Volume:
    return max(filled - remaining, Volume.zero())


def expect_from_deliveries(
    anchor: ReservoirAnchor,
    at: datetime,
    deliveries: Sequence[DeliveryPeriod],
    pump: PumpModel,
    tz: tzinfo | None,
    recorded_boluses: Sequence[RecordedBolus] | None = None,
    last_fill: ReservoirAnchor | None = None,
) -> Expectation:
    """The content at `at` from `anchor` through the prescriptions in force.

    With `recorded_boluses` (the pump's log of the patient boluses it gave, from an
    interrogation at hand) the basis is the pump's record; without, it is every allowed
    bolus (or none, when no prescription allows any). `last_fill` is the last refill when
    the anchor is a later pump estimate (the accuracy band covers all delivery since the
    fill, and an unexplained loss may date from it). `ValueError` when no prescription is
    in force at the anchor or `at` is before it.
    """
    if at < anchor.at:
        raise ValueError(f"the refill ({at}) cannot be before the reservoir anchor ({anchor.at})")
    zero = Volume.zero()
    fill = last_fill if last_fill is not None else anchor
    programmed = volume_moved(anchor.at, at, deliveries, pump, tz, False)
    if recorded_boluses is not None:
        window = sorted(
            (b for b in recorded_boluses if anchor.at <= b.at <= at), key=lambda b: b.at
        )
        given = sum((b.volume for b in window), zero)
        most = max(anchor.volume - programmed - given, zero)
        ran_out = _ran_out_with_records(anchor, at, window, deliveries, pump, tz)
        basis = ExpectationBasis.PUMP_RECORD
        delivered = _delivered(fill.volume, most)
        return Expectation(at, anchor, fill, most, zero, delivered, basis, ran_out, ran_out)
    most = max(anchor.volume - programmed, zero)
    ran_out = time_moved(anchor.at, anchor.volume, deliveries, pump, tz, False)
    ran_out = ran_out if ran_out is not None and ran_out <= at else None
    if not _allows_patient_boluses(anchor.at, at, deliveries):
        basis = ExpectationBasis.NO_PATIENT_BOLUSES
        return Expectation(
            at, anchor, fill, most, zero, _delivered(fill.volume, most), basis, ran_out, ran_out
        )
    worst = volume_moved(anchor.at, at, deliveries, pump, tz, True)
    allowance = min(worst - programmed, most)
    earliest = time_moved(anchor.at, anchor.volume, deliveries, pump, tz, True)
    earliest = earliest if earliest is not None and earliest <= at else None
    basis = ExpectationBasis.ALLOWED_BOLUSES
    delivered = _delivered(fill.volume, most)
    return Expectation(at, anchor, fill, most, allowance, delivered, basis, ran_out, earliest)


def expect_from_pump(
    at: datetime,
    filled_at: datetime,
    filled: Volume,
    estimate: Volume,
    empty_alarm_at: datetime | None = None,
) -> Expectation:
    """The pump's own expectation at `at` (its clock): its reservoir estimate, which
    counts programmed delivery and every bolus it gave since the fill of `filled` at
    `filled_at`. `empty_alarm_at`: its empty-reservoir alarm, when raised since."""
    if estimate.amount < 0 or filled.amount < 0:
        raise ValueError("reservoir volumes cannot be negative")
    anchor = ReservoirAnchor(filled_at, filled, AnchorKind.FILL)
    return Expectation(
        at, anchor, anchor, estimate, Volume.zero(), _delivered(filled, estimate),
        ExpectationBasis.PUMP_RECORD,
        empty_alarm_at, empty_alarm_at, pump_alarm=empty_alarm_at is not None,
    )  # fmt: skip
