"""Writing a prescription: the checks the pump makes itself (programmable, the solution
in the reservoir, the hard limits again with `evaluate_hard_limits`) and the write."""

from __future__ import annotations

from thecal.pump.alarms import AlarmKind
from thecal.pump.commands import Accepted, Rejected, Rejection, Response, WritePrescription
from thecal.pump.eventlog import LogKind
from thecal.pump.firmware.alarm_control import active_kinds, clear_alarm
from thecal.pump.firmware.core import FirmwareCore
from thecal.pump.firmware.delivery_state import cancel_bolus, set_state
from thecal.pump.firmware.views import projection
from thecal.pump.payloads import HardLimitRefusal, PrescriptionStored, TherapyState
from thecal.pump.records import Cause
from thecal.therapy.delivery import programmed_daily_dose
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.refill import Solution, check_solution
from thecal.therapy.safety import evaluate_hard_limits

__all__ = ["prescription_problem", "write_prescription"]


def prescription_problem(fw: FirmwareCore, rx: Prescription) -> Rejected | None:
    """Why this pump refuses `rx` (None if it accepts it)."""
    held = fw.ram.therapy  # what the reservoir holds
    if not fw.profile.model.programmable:
        return Rejected(Rejection.NOT_PROGRAMMABLE, f"{fw.profile.model.label} is not programmable")
    solution = Solution(rx.drug, rx.concentration)
    if not check_solution(fw.library, Solution(held.drug, held.concentration), solution).matches:
        return Rejected(
            Rejection.INVALID_ARGUMENT,
            f"the reservoir holds {held.drug} at {held.concentration}, the prescription is for "
            f"{rx.drug} at {rx.concentration}; register a refill with the new solution first",
        )
    evaluation = evaluate_hard_limits(rx, fw.library, fw.profile.model)
    if evaluation.refusals:
        return Rejected(
            Rejection.HARD_LIMIT,
            "; ".join(v.message for v in evaluation.refusals),
            payload=HardLimitRefusal(evaluation.refusals),
        )
    return None


def write_prescription(fw: FirmwareCore, command: WritePrescription) -> Response:
    """Store and start a prescription; a write also recovers from a memory error (every
    record is rewritten)."""
    r = fw.ram
    rx = command.prescription
    if command.content_hash != rx.content_hash:
        return Rejected(
            Rejection.HASH_MISMATCH,
            "the content hash does not match the prescription; nothing was written",
        )
    if r.therapy.state is TherapyState.END_OF_SERVICE:
        return Rejected(Rejection.INVALID_STATE, "the pump is at end of service")
    problem = prescription_problem(fw, rx)
    if problem is not None:
        return problem
    fw.commit_prescription(rx)
    r.prescription = rx
    r.therapy.rx_started = r.ticks
    r.therapy.lockout_from = r.ticks
    r.therapy.awaiting_prescription = False
    recovered = r.memory_error
    if recovered:
        r.memory_error = False
        fw.commit("settings", r.settings)
        fw.log.repair()
        clear_alarm(fw, AlarmKind.MEMORY_ERROR, "every record rewritten")
    cancel_bolus(fw, "a new prescription was written")
    if r.therapy.low_battery_reset:
        set_state(fw, TherapyState.MINIMUM_RATE, Cause.LOW_BATTERY_RESET)
    elif AlarmKind.EMPTY_RESERVOIR in active_kinds(fw):
        set_state(fw, TherapyState.MINIMUM_RATE, Cause.EMPTY_RESERVOIR)
    else:
        set_state(fw, TherapyState.RUNNING, Cause.PRESCRIPTION)
    fw.log_event(
        LogKind.PRESCRIPTION_WRITTEN,
        f"prescription written: {rx.drug} {rx.concentration}, {rx.mode.value}",
        hash=rx.content_hash,
        mode=rx.mode.value,
    )
    fw.save_therapy()
    daily = None if rx.mode is Mode.SINGLE_BOLUS else programmed_daily_dose(rx, fw.min_rate)
    low_at, _ = projection(fw)
    return Accepted(
        "prescription stored" + (" (memory error cleared)" if recovered else ""),
        PrescriptionStored(rx.content_hash, fw.local(), daily, low_at),
    )
