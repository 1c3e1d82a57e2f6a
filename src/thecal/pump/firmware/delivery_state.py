"""The therapy state and what changes it: state transitions, boluses starting, ending or
being cancelled, holds, the post-MRI latch."""

from __future__ import annotations

from fractions import Fraction

from thecal.pump.eventlog import LogKind
from thecal.pump.firmware.core import FirmwareCore
from thecal.pump.payloads import BolusKind, Hold, TherapyState
from thecal.pump.records import ActiveBolus, Cause
from thecal.pump.timebase import duration_us
from thecal.therapy.prescription import Mode
from thecal.therapy.quantities import Duration, Mass, Volume

__all__ = [
    "cancel_bolus",
    "delivering",
    "end_bolus",
    "holds",
    "release_mri_latch",
    "set_state",
    "single_bolus_end",
    "start_bolus",
]


def holds(fw: FirmwareCore) -> tuple[Hold, ...]:
    """What stops delivery right now, whatever the therapy state."""
    r = fw.ram
    flags = (
        (r.field_present, Hold.MRI_FIELD),
        (r.therapy.mri_latched, Hold.MRI_LATCH),
        (r.motor_stalled, Hold.MOTOR_STALL),
        (r.therapy.valve_closed, Hold.FLOW_VALVE_CLOSED),
    )
    return tuple(hold for on, hold in flags if on)


def delivering(fw: FirmwareCore) -> bool:
    """Whether the pump moves fluid now (a bolus, or a delivering state, and no hold)."""
    r = fw.ram
    if r.field_present or r.therapy.mri_latched or r.motor_stalled or r.therapy.valve_closed:
        return False
    if r.overlay is not None:
        return True
    return r.therapy.state in (
        TherapyState.RUNNING,
        TherapyState.MINIMUM_RATE,
        TherapyState.CONSTANT_FLOW,
    )


def single_bolus_end(fw: FirmwareCore) -> int | None:
    """The tick a running single-bolus prescription ends (None if none runs)."""
    r = fw.ram
    rx = r.prescription
    if r.therapy.state is TherapyState.RUNNING and rx is not None and rx.mode is Mode.SINGLE_BOLUS:
        assert rx.bolus is not None
        return r.therapy.rx_started + duration_us(rx.bolus.duration)
    return None


def set_state(fw: FirmwareCore, state: TherapyState, cause: Cause) -> None:
    """Change the therapy state (a running bolus is cancelled) and log it; the caller
    commits the therapy record."""
    r = fw.ram
    if r.therapy.state is state and r.therapy.cause is cause:
        return
    previous = r.therapy.state
    cancel_bolus(fw, f"delivery changed to {state.value.replace('_', ' ')}")
    r.therapy.state, r.therapy.cause = state, cause
    fw.log_event(
        LogKind.DELIVERY_CHANGED,
        f"delivery: {previous.value.replace('_', ' ')} -> {state.value.replace('_', ' ')} "
        f"({cause.value.replace('_', ' ')})",
        previous=previous.value,
        state=state.value,
        cause=cause.value,
    )


def start_bolus(
    fw: FirmwareCore,
    kind: BolusKind,
    volume: Volume,
    dose: Mass,
    duration: Duration,
    request_id: str,
) -> ActiveBolus:
    """Start a bolus now (the caller has checked that it may run)."""
    r = fw.ram
    overlay = ActiveBolus(
        kind,
        volume,
        dose,
        r.ticks,
        r.ticks + duration_us(duration),
        kind in (BolusKind.PRIMING, BolusKind.BRIDGE),
        request_id,
    )
    r.overlay = overlay
    fw.log_event(
        LogKind.BOLUS_STARTED,
        f"{kind.value} bolus: {volume} ({dose}) over {duration}",
        kind=kind.value,
        volume=str(volume),
        dose=str(dose),
        request=request_id,
    )
    return overlay


def cancel_bolus(fw: FirmwareCore, why: str) -> None:
    """Stop a running bolus now (nothing if none runs)."""
    overlay = fw.ram.overlay
    if overlay is None:
        return
    fw.ram.overlay = None
    done = overlay.volume.amount * Fraction(
        fw.ram.ticks - overlay.start, overlay.end - overlay.start
    )
    fw.log_event(
        LogKind.BOLUS_ENDED,
        f"{overlay.kind.value} bolus cancelled ({why}) after {Volume(max(Fraction(0), done))}",
        kind=overlay.kind.value,
        completed="false",
        request=overlay.request_id,
    )


def end_bolus(fw: FirmwareCore, overlay: ActiveBolus) -> None:
    """A bolus ran to its end. After a priming or bridge bolus, a pump held for it starts
    its stored prescription."""
    r = fw.ram
    r.overlay = None
    fw.log_event(
        LogKind.BOLUS_ENDED,
        f"{overlay.kind.value} bolus complete: {overlay.volume}",
        kind=overlay.kind.value,
        completed="true",
        request=overlay.request_id,
    )
    held = r.therapy.state in (
        TherapyState.STOPPED,
        TherapyState.MINIMUM_RATE,
    ) and r.therapy.cause in (
        Cause.COMMAND,
        Cause.IMPLANT,
        Cause.SINGLE_BOLUS_DONE,
    )
    ready = r.prescription is not None and not r.therapy.awaiting_prescription
    if overlay.replaces_base and held and ready:
        set_state(fw, TherapyState.RUNNING, Cause.PRIMING_DONE)
        fw.save_therapy()


def release_mri_latch(fw: FirmwareCore, how: str) -> bool:
    """Release the post-MRI hold (True if there was one)."""
    r = fw.ram
    if not r.therapy.mri_latched:
        return False
    r.therapy.mri_latched = False
    r.probe = True
    fw.log_event(LogKind.MRI_HOLD, f"post-MRI hold released by {how}")
    fw.save_therapy()
    return True
