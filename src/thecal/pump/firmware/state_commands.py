"""Commands that change the therapy state: stop, minimum rate, resume."""

from __future__ import annotations

from thecal.pump.alarms import AlarmKind
from thecal.pump.commands import Accepted, MinimumRate, Rejected, Rejection, Response, Resume, Stop
from thecal.pump.firmware.alarm_control import active_kinds
from thecal.pump.firmware.core import FirmwareCore
from thecal.pump.firmware.delivery_state import release_mri_latch, set_state
from thecal.pump.payloads import DeliveryChange, TherapyState
from thecal.pump.records import Cause
from thecal.therapy.prescription import Mode

__all__ = ["minimum_rate", "resume", "stop"]


def _change(fw: FirmwareCore, state: TherapyState, cause: Cause, message: str) -> Response:
    previous = fw.ram.therapy.state
    set_state(fw, state, cause)
    fw.save_therapy()
    return Accepted(message, DeliveryChange(previous, state, fw.local()))


def stop(fw: FirmwareCore, command: Stop) -> Response:
    if fw.ram.therapy.state is TherapyState.END_OF_SERVICE:
        return Rejected(Rejection.INVALID_STATE, "the pump is at end of service")
    return _change(fw, TherapyState.STOPPED, Cause.COMMAND, "delivery stopped")


def minimum_rate(fw: FirmwareCore, command: MinimumRate) -> Response:
    if fw.ram.therapy.state is TherapyState.END_OF_SERVICE:
        return Rejected(Rejection.INVALID_STATE, "the pump is at end of service")
    return _change(fw, TherapyState.MINIMUM_RATE, Cause.COMMAND, "minimum rate")


def resume(fw: FirmwareCore, command: Resume) -> Response:
    """Run the stored prescription again, unless something the clinician must see first
    (memory error, low-battery reset, a new solution, an empty reservoir) stands in the way."""
    r = fw.ram
    reasons = {
        TherapyState.END_OF_SERVICE: "the pump is at end of service",
    }
    if r.therapy.state in reasons:
        return Rejected(Rejection.INVALID_STATE, reasons[r.therapy.state])
    if r.memory_error:
        return Rejected(Rejection.INVALID_STATE, "memory error: write a prescription to recover")
    if r.therapy.low_battery_reset:
        return Rejected(
            Rejection.INVALID_STATE, "low battery reset: the battery cannot sustain therapy"
        )
    if r.prescription is None:
        return Rejected(Rejection.INVALID_STATE, "no prescription is stored")
    if r.therapy.awaiting_prescription:
        return Rejected(
            Rejection.INVALID_STATE,
            "the reservoir holds a new solution: write its prescription",
        )
    if AlarmKind.EMPTY_RESERVOIR in active_kinds(fw):
        return Rejected(Rejection.INVALID_STATE, "the reservoir is empty: refill first")
    released = release_mri_latch(fw, "Resume")
    previous = r.therapy.state
    if r.therapy.state is TherapyState.RUNNING:
        return Accepted(
            "running" + (" (post-MRI hold released)" if released else ""),
            DeliveryChange(previous, r.therapy.state, fw.local()),
        )
    r.therapy.rx_started = (
        r.ticks if r.prescription.mode is Mode.SINGLE_BOLUS else r.therapy.rx_started
    )
    return _change(fw, TherapyState.RUNNING, Cause.PRESCRIPTION, "delivery resumed")
