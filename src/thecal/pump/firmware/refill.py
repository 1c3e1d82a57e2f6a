"""Registering a refill: check the volumes, reconcile the aspirate against the pump's own
record, take the new fill, and drop to the minimum rate until a new solution has its
prescription. Every rule is the therapy core's refill rules (`thecal.therapy.refill`),
the same the programmer and the clinic call."""

from __future__ import annotations

from thecal.pump.alarms import AlarmKind
from thecal.pump.commands import Accepted, RegisterRefill, Rejected, Rejection, Response
from thecal.pump.eventlog import LogKind
from thecal.pump.firmware.alarm_control import clear_alarm
from thecal.pump.firmware.core import FirmwareCore
from thecal.pump.firmware.delivery_state import set_state
from thecal.pump.firmware.views import projection
from thecal.pump.payloads import RefillReconciliation, TherapyState
from thecal.pump.records import Cause
from thecal.pump.timebase import duration_us
from thecal.therapy.quantities import Concentration, Volume
from thecal.therapy.refill import (
    Solution,
    VolumeRule,
    check_refill_volumes,
    check_solution,
    drug_identity,
    expect_from_pump,
    reconcile,
)

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
    """Record a refill and reconcile the aspirate against the pump's own record (its
    estimate, counting every bolus it gave, and its empty-reservoir alarm). An aspirate or
    a fill beyond the reservoir is refused; a fill of 0 mL registers a reservoir emptied on
    purpose. The drug is kept as the library names it, so a brand name ("lioresal") is no
    change of drug. Also the path the twin uses for a pump without telemetry."""
    r = fw.ram
    refusals = check_refill_volumes(
        fw.profile.capacity, new_volume, aspirated, fill_may_be_empty=True
    )
    if refusals:
        first = refusals[0]
        over = first.rule is VolumeRule.OVER_CAPACITY
        return Rejected(
            Rejection.OVER_CAPACITY if over else Rejection.INVALID_ARGUMENT,
            "; ".join(refusal.message for refusal in refusals),
        )
    if not drug.strip() or concentration.amount <= 0:
        return Rejected(
            Rejection.INVALID_ARGUMENT, "the drug and a positive concentration are needed"
        )
    held = r.therapy
    empty_alarm = next(
        (alarm.raised_at for alarm in held.alarms if alarm.kind is AlarmKind.EMPTY_RESERVOIR),
        None,
    )
    expectation = expect_from_pump(
        fw.local(),
        fw.local(held.fill_ticks),
        Volume(held.fill_volume),
        Volume(held.estimate),
        empty_alarm,
    )
    outcome = reconcile(expectation, aspirated, fw.profile.model, fw.library.find(held.drug))
    drug_id = drug_identity(fw.library, drug)
    changed = not check_solution(
        fw.library, Solution(held.drug, held.concentration), Solution(drug_id, concentration)
    ).matches
    expected = Volume(held.estimate)
    held.estimate = new_volume.amount
    held.fill_volume = new_volume.amount
    held.fill_ticks = r.ticks
    held.drug = drug_id
    held.concentration = concentration
    held.lockout_from = r.ticks
    fw.log_event(
        LogKind.REFILL,
        f"refill: aspirated {aspirated} (expected {expected}), filled {new_volume} of "
        f"{drug_id} at {concentration}",
        aspirated=str(aspirated),
        expected=str(expected),
        new_volume=str(new_volume),
        drug=drug_id,
        concentration=str(concentration),
        discrepancy=outcome.discrepancy.value,
    )
    if fw.electronic:
        if held.estimate > fw.empty:
            clear_alarm(fw, AlarmKind.EMPTY_RESERVOIR, "refilled")
        if held.estimate > r.settings.low_reservoir_threshold.amount:
            clear_alarm(fw, AlarmKind.LOW_RESERVOIR, "refilled")
        if changed:
            held.awaiting_prescription = True
            set_state(fw, TherapyState.MINIMUM_RATE, Cause.NEW_SOLUTION)
        elif (
            held.state is TherapyState.MINIMUM_RATE
            and held.cause is Cause.EMPTY_RESERVOIR
            and r.prescription is not None
        ):
            set_state(fw, TherapyState.RUNNING, Cause.PRESCRIPTION)
    fw.save_therapy()
    low_at, _ = projection(fw)
    lockout_until = None
    if r.prescription is not None and r.prescription.patient_bolus is not None:
        lockout_until = fw.local(r.ticks + duration_us(r.prescription.patient_bolus.lockout))
    flagged = outcome.discrepancy.value.replace("_", " ") if outcome.flagged else ""
    return Accepted(
        "refill registered" + (f"; discrepancy flagged: {flagged}" if flagged else ""),
        RefillReconciliation(
            reconciliation=outcome,
            new_solution=changed and fw.electronic,
            new_volume=new_volume,
            drug=drug_id,
            concentration=concentration,
            lockout_until=lockout_until,
            low_alarm_at=low_at,
        ),
    )
