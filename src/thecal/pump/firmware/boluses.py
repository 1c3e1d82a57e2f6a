"""Bolus commands: clinician (on top of the schedule), priming and bridge (instead of
it), and the patient's own bolus (the rule is `thecal.pump.bolus.judge_patient_bolus`)."""

from __future__ import annotations

from dataclasses import replace

from thecal.pump.bolus import BolusVerdict, judge_patient_bolus, starts_in_window
from thecal.pump.commands import (
    MAX_BOLUS_DURATION,
    Accepted,
    BridgeBolus,
    ClinicianBolus,
    PatientBolusRequest,
    PrimingBolus,
    Rejected,
    Rejection,
    Response,
)
from thecal.pump.firmware.core import FirmwareCore
from thecal.pump.firmware.delivery_state import holds, start_bolus
from thecal.pump.payloads import BolusDenial, BolusGrant, BolusKind, TherapyState
from thecal.pump.timebase import DAY_US, duration_us
from thecal.therapy.limits import Classification
from thecal.therapy.quantities import Duration, Volume, VolumeRate

__all__ = [
    "bolus_state_problem",
    "bridge_bolus",
    "clinician_bolus",
    "patient_bolus",
    "patient_check",
    "priming_bolus",
]


def bolus_state_problem(fw: FirmwareCore) -> Rejected | None:
    """Why no bolus may start now (None if one may)."""
    r = fw.ram
    if r.therapy.state is TherapyState.END_OF_SERVICE:
        return Rejected(Rejection.INVALID_STATE, "the pump is at end of service")
    if r.memory_error:
        return Rejected(Rejection.INVALID_STATE, "memory error: write a prescription first")
    on_hold = holds(fw)
    if on_hold:
        names = ", ".join(h.value.replace("_", " ") for h in on_hold)
        return Rejected(Rejection.INVALID_STATE, f"delivery is suspended ({names})")
    if r.overlay is not None:
        return Rejected(
            Rejection.INVALID_STATE,
            f"a {r.overlay.kind.value} bolus is running until {fw.local(r.overlay.end)}",
            retry_after=fw.local(r.overlay.end),
        )
    return None


def _duration_problem(duration: Duration) -> Rejected | None:
    if duration.seconds <= 0 or duration > MAX_BOLUS_DURATION:
        return Rejected(
            Rejection.INVALID_ARGUMENT,
            f"bolus duration {duration} must be above 0 and at most {MAX_BOLUS_DURATION}",
        )
    return None


def clinician_bolus(fw: FirmwareCore, command: ClinicianBolus, request_id: str) -> Response:
    r = fw.ram
    problem = bolus_state_problem(fw) or _duration_problem(command.duration)
    if problem is not None:
        return problem
    if command.dose.amount <= 0:
        return Rejected(Rejection.INVALID_ARGUMENT, "the bolus dose must be more than zero")
    if r.therapy.state not in (
        TherapyState.RUNNING,
        TherapyState.MINIMUM_RATE,
        TherapyState.STOPPED,
    ):
        return Rejected(Rejection.INVALID_STATE, f"no clinician bolus in {r.therapy.state.value}")
    entry = fw.library.find(r.therapy.drug)
    limit = entry.bolus_dose if entry is not None else None
    if entry is None or limit is None or limit.hard is None:
        return Rejected(
            Rejection.HARD_LIMIT, f"no bolus limit for {r.therapy.drug} in the drug library"
        )
    # The pump holds the hard bound only: a soft one was the clinician's to override.
    dose = limit.classify(command.dose)
    if dose.classification is Classification.HARD_EXCEEDED:
        return Rejected(
            Rejection.HARD_LIMIT,
            f"bolus {entry.show(command.dose)} is above the hard limit "
            f"{entry.show(dose.bound.value)} ({dose.bound.provenance})",
        )
    volume = command.dose / r.therapy.concentration
    rate = volume / command.duration
    base, _ = fw.programmed().rate_at(r.ticks)
    peak = VolumeRate(rate.amount + base * DAY_US)
    # The bolus runs on top of the schedule: the peak may reach the higher of the two ceilings.
    model = fw.profile.model
    ceiling = max(
        model.basal_rate_ceiling, model.bolus_rate_ceiling, key=lambda c: c.innermost.value
    )
    held = ceiling.classify(peak)
    if held.exceeded:
        return Rejected(
            Rejection.HARD_LIMIT, f"volume rate {peak} is above the pump's {held.bound.value}"
        )
    if r.therapy.estimate - volume.amount < fw.empty:
        return Rejected(Rejection.RESERVOIR, "the reservoir is too low for this bolus")
    bolus = start_bolus(fw, BolusKind.CLINICIAN, volume, command.dose, command.duration, request_id)
    return Accepted(
        "clinician bolus started",
        BolusGrant(
            BolusKind.CLINICIAN,
            command.dose,
            volume,
            fw.local(bolus.start),
            fw.local(bolus.end),
        ),
    )


def _replacing_bolus(
    fw: FirmwareCore, kind: BolusKind, volume: Volume, duration: Duration, request_id: str
) -> Response:
    """A bolus that runs instead of the schedule (priming, bridge)."""
    r = fw.ram
    problem = bolus_state_problem(fw) or _duration_problem(duration)
    if problem is not None:
        return problem
    if volume.amount <= 0:
        return Rejected(Rejection.INVALID_ARGUMENT, "the bolus volume must be more than zero")
    if kind is BolusKind.BRIDGE and (r.prescription is None or r.therapy.awaiting_prescription):
        return Rejected(
            Rejection.INVALID_STATE,
            "write the prescription for the new solution before the bridge bolus",
        )
    rate = volume / duration
    held = fw.profile.model.bolus_rate_ceiling.classify(rate)
    if held.exceeded:
        return Rejected(
            Rejection.HARD_LIMIT, f"volume rate {rate} is above the pump's {held.bound.value}"
        )
    if volume.amount > r.therapy.estimate:
        return Rejected(
            Rejection.RESERVOIR,
            f"the reservoir (about {Volume(r.therapy.estimate)}) cannot supply {volume}",
        )
    dose = volume.times(r.therapy.concentration)
    bolus = start_bolus(fw, kind, volume, dose, duration, request_id)
    return Accepted(
        f"{kind.value} bolus started",
        BolusGrant(kind, dose, volume, fw.local(bolus.start), fw.local(bolus.end)),
    )


def priming_bolus(fw: FirmwareCore, command: PrimingBolus, request_id: str) -> Response:
    return _replacing_bolus(fw, BolusKind.PRIMING, command.volume, command.duration, request_id)


def bridge_bolus(fw: FirmwareCore, command: BridgeBolus, request_id: str) -> Response:
    return _replacing_bolus(fw, BolusKind.BRIDGE, command.volume, command.duration, request_id)


def patient_check(fw: FirmwareCore) -> tuple[Rejected | None, BolusVerdict | None]:
    """Either why the patient bolus cannot be considered now, or the rule's verdict."""
    r = fw.ram
    therapy = r.therapy
    rx = r.prescription
    if rx is None or rx.patient_bolus is None:
        return Rejected(Rejection.INVALID_STATE, "no patient bolus is prescribed"), None
    if therapy.state is not TherapyState.RUNNING or therapy.awaiting_prescription or r.memory_error:
        state = therapy.state.value.replace("_", " ")
        message = f"the pump is not running its prescription ({state})"
        return Rejected(Rejection.INVALID_STATE, message), None
    problem = bolus_state_problem(fw)
    if problem is not None:
        return problem, None
    pb = rx.patient_bolus
    verdict = judge_patient_bolus(
        pb,
        r.therapy.patient_starts,
        r.therapy.lockout_from,
        r.ticks,
        r.therapy.estimate,
        fw.empty,
        (pb.dose / r.therapy.concentration).amount,
    )
    return None, verdict


def patient_bolus(fw: FirmwareCore, command: PatientBolusRequest, request_id: str) -> Response:
    r = fw.ram
    problem, verdict = patient_check(fw)
    rx = r.prescription
    if problem is not None or verdict is None or rx is None or rx.patient_bolus is None:
        assert problem is not None
        if rx is not None and rx.patient_bolus is not None:
            count = len(starts_in_window(r.therapy.patient_starts, r.ticks))
            return replace(
                problem,
                payload=BolusDenial(count, rx.patient_bolus.max_per_24h, problem.retry_after),
            )
        return problem
    pb = rx.patient_bolus
    if not verdict.allowed:
        assert verdict.reason is not None
        retry = fw.local(verdict.retry_after) if verdict.retry_after is not None else None
        return Rejected(
            verdict.reason,
            verdict.message,
            retry,
            BolusDenial(verdict.count_24h, pb.max_per_24h, retry),
        )
    volume = pb.dose / r.therapy.concentration
    keep = max(DAY_US, duration_us(pb.lockout))
    r.therapy.patient_starts = (
        *(t for t in r.therapy.patient_starts if r.ticks - t < keep),
        r.ticks,
    )
    bolus = start_bolus(fw, BolusKind.PATIENT, volume, pb.dose, pb.duration, request_id)
    fw.save_therapy()
    count = verdict.count_24h + 1
    next_at = bolus.start + duration_us(pb.lockout)
    return Accepted(
        "patient bolus started",
        BolusGrant(
            BolusKind.PATIENT,
            pb.dose,
            volume,
            fw.local(bolus.start),
            fw.local(bolus.end),
            count,
            pb.max_per_24h,
            fw.local(next_at),
        ),
    )
