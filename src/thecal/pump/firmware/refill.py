"""Registering a refill: reconcile the aspirated volume against the estimate, take the
new fill, and drop to the minimum rate until a new solution has its prescription."""

from __future__ import annotations

from thecal.pump.alarms import AlarmKind
from thecal.pump.commands import Accepted, RegisterRefill, Rejected, Rejection, Response
from thecal.pump.eventlog import LogKind
from thecal.pump.firmware.alarm_control import clear_alarm
from thecal.pump.firmware.core import FirmwareCore
from thecal.pump.firmware.delivery_state import set_state
from thecal.pump.firmware.views import projection
from thecal.pump.payloads import RefillFinding, RefillReconciliation, TherapyState
from thecal.pump.records import Cause
from thecal.pump.timebase import duration_us
from thecal.therapy.quantities import Concentration, Volume

__all__ = ["register_refill", "register_refill_command"]


def register_refill_command(fw: FirmwareCore, command: RegisterRefill) -> Response:
    return register_refill(
        fw, command.aspirated, command.new_volume, command.drug, command.concentration
    )


def register_refill(
    fw: FirmwareCore,
    aspirated: Volume,
    new_volume: Volume,
    drug: str,
    concentration: Concentration,
) -> Response:
    """Record a refill and reconcile expected against aspirated volume. Also the path
    the twin uses for a pump without telemetry (the clinic's own record)."""
    r = fw.ram
    capacity = fw.profile.capacity
    if aspirated.amount < 0 or new_volume.amount < 0:
        return Rejected(Rejection.INVALID_ARGUMENT, "volumes must not be negative")
    if new_volume > capacity:
        return Rejected(
            Rejection.OVER_CAPACITY,
            f"{new_volume} is more than the reservoir holds ({capacity}); overfilling is a "
            "risk factor for over-infusion",
        )
    if not drug.strip() or concentration.amount <= 0:
        return Rejected(
            Rejection.INVALID_ARGUMENT, "the drug and a positive concentration are needed"
        )
    expected = r.therapy.estimate
    previous = r.therapy.fill_volume
    discrepancy = aspirated.amount - expected
    expected_delivered = previous - expected
    actual_delivered = previous - aspirated.amount
    error = (
        (actual_delivered - expected_delivered) / expected_delivered
        if expected_delivered > 0
        else None
    )
    limit_volume = fw.profile.refill_discrepancy_limit.value
    limit_percent = fw.profile.model.accuracy_percent.value
    findings: list[RefillFinding] = []
    out_of_spec = error is not None and abs(error) * 100 > limit_percent
    too_large = abs(discrepancy) > limit_volume.amount
    if out_of_spec or too_large:
        findings.append(
            RefillFinding.LESS_THAN_EXPECTED
            if discrepancy < 0
            else RefillFinding.MORE_THAN_EXPECTED
        )
    else:
        findings.append(RefillFinding.WITHIN_EXPECTED)
    drug_id = drug.strip().lower()
    changed = drug_id != r.therapy.drug or concentration != r.therapy.concentration
    if changed and fw.electronic:
        findings.append(RefillFinding.NEW_SOLUTION)
    r.therapy.estimate = new_volume.amount
    r.therapy.fill_volume = new_volume.amount
    r.therapy.fill_ticks = r.ticks
    r.therapy.drug = drug_id
    r.therapy.concentration = concentration
    r.therapy.lockout_from = r.ticks
    fw.log_event(
        LogKind.REFILL,
        f"refill: aspirated {aspirated} (expected {Volume(expected)}), filled {new_volume} of "
        f"{drug_id} at {concentration}",
        aspirated=str(aspirated),
        expected=str(Volume(expected)),
        new_volume=str(new_volume),
        drug=drug_id,
        concentration=str(concentration),
    )
    if fw.electronic:
        if r.therapy.estimate > fw.empty:
            clear_alarm(fw, AlarmKind.EMPTY_RESERVOIR, "refilled")
        if r.therapy.estimate > r.settings.low_reservoir_threshold.amount:
            clear_alarm(fw, AlarmKind.LOW_RESERVOIR, "refilled")
        if changed:
            r.therapy.awaiting_prescription = True
            set_state(fw, TherapyState.MINIMUM_RATE, Cause.NEW_SOLUTION)
        elif (
            r.therapy.state is TherapyState.MINIMUM_RATE
            and r.therapy.cause is Cause.EMPTY_RESERVOIR
            and r.prescription is not None
        ):
            set_state(fw, TherapyState.RUNNING, Cause.PRESCRIPTION)
    fw.save_therapy()
    low_at, _ = projection(fw)
    flagged = any(
        f in (RefillFinding.LESS_THAN_EXPECTED, RefillFinding.MORE_THAN_EXPECTED) for f in findings
    )
    lockout_until = None
    if r.prescription is not None and r.prescription.patient_bolus is not None:
        lockout_until = fw.local(r.ticks + duration_us(r.prescription.patient_bolus.lockout))
    return Accepted(
        "refill registered" + ("; discrepancy flagged" if flagged else ""),
        RefillReconciliation(
            expected=Volume(expected),
            aspirated=aspirated,
            discrepancy=Volume(discrepancy),
            previous_fill=Volume(previous),
            delivery_error=error,
            findings=tuple(findings),
            flagged=flagged,
            limit_volume=limit_volume,
            limit_percent=limit_percent,
            new_volume=new_volume,
            drug=drug_id,
            concentration=concentration,
            lockout_until=lockout_until,
            low_alarm_at=low_at,
        ),
    )
