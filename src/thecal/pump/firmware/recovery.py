"""Recovery commands after an MRI or a closed valve: the post-MRI motor check and the
flow-activated valve reset."""

from __future__ import annotations

from thecal.pump.alarms import AlarmKind
from thecal.pump.commands import (
    Accepted,
    PostMriCheck,
    Rejected,
    Rejection,
    ResetFlowValve,
    Response,
)
from thecal.pump.eventlog import LogKind
from thecal.pump.firmware.alarm_control import clear_alarm
from thecal.pump.firmware.core import FirmwareCore
from thecal.pump.firmware.delivery_state import release_mri_latch
from thecal.pump.payloads import FlowValveReset, MotorCheck

__all__ = ["post_mri_check", "reset_flow_valve"]


def post_mri_check(fw: FirmwareCore, command: PostMriCheck) -> Response:
    """Check that the motor turns after a scan; release the post-MRI hold if it does."""
    r = fw.ram
    if r.field_present:
        return Rejected(Rejection.INVALID_STATE, "a strong magnetic field is still present")
    turns = fw.hw.motor_turns(r.ticks)
    released = False
    if turns:
        released = release_mri_latch(fw, "the post-MRI check")
        if r.motor_stalled:
            r.motor_stalled = False
            r.probe = True
            clear_alarm(fw, AlarmKind.MOTOR_STALL, "post-MRI check: the motor turns")
        message = "motor turns; delivery can continue"
    else:
        message = "motor still stalled; recheck later (gear binding can last 2-24 h)"
    return Accepted(message, MotorCheck(turns, released, message))


def reset_flow_valve(fw: FirmwareCore, command: ResetFlowValve) -> Response:
    r = fw.ram
    if not fw.profile.flow_activated_valve.value:
        return Rejected(
            Rejection.INVALID_STATE, f"{fw.profile.model.label} has no flow-activated valve"
        )
    if not r.therapy.valve_closed and not fw.hw.flow_valve_closed():
        return Rejected(Rejection.INVALID_STATE, "the flow-activated valve is open")
    if not fw.hw.reset_flow_valve(r.ticks):
        return Rejected(
            Rejection.INVALID_STATE, "the valve cannot be reset inside a magnetic field"
        )
    r.therapy.valve_closed = False
    r.probe = True
    fw.log_event(LogKind.FLOW_VALVE_RESET, "flow-activated valve reset")
    clear_alarm(fw, AlarmKind.FLOW_VALVE_CLOSED, "valve reset")
    return Accepted("flow-activated valve reset", FlowValveReset(fw.local()))
