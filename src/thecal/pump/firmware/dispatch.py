"""Command handling: the request memory (a repeated request id gets the stored answer),
the role check, the log entry of every command, and the dispatch to each family's
handler."""

from __future__ import annotations

from thecal.pump.codec import decode_bytes, encode_bytes
from thecal.pump.commands import (
    Accepted,
    AcknowledgeAlarm,
    AlarmTest,
    BridgeBolus,
    ClinicianBolus,
    Interrogate,
    MinimumRate,
    PatientBolusRequest,
    PostMriCheck,
    PrimingBolus,
    RegisterRefill,
    Rejected,
    Rejection,
    Request,
    ResetFlowValve,
    Response,
    Resume,
    SetAlarmSettings,
    SetClock,
    StatusSummary,
    Stop,
    WritePrescription,
    permitted,
)
from thecal.pump.eventlog import LogKind
from thecal.pump.firmware.boluses import (
    bridge_bolus,
    clinician_bolus,
    patient_bolus,
    priming_bolus,
)
from thecal.pump.firmware.core import FirmwareCore
from thecal.pump.firmware.delivery_state import release_mri_latch
from thecal.pump.firmware.prescribing import write_prescription
from thecal.pump.firmware.recovery import post_mri_check, reset_flow_valve
from thecal.pump.firmware.refill import register_refill_command
from thecal.pump.firmware.settings import acknowledge, alarm_test, set_alarm_settings, set_clock
from thecal.pump.firmware.state_commands import minimum_rate, resume, stop
from thecal.pump.firmware.views import patient_status, report
from thecal.pump.nvm import RecordCorrupt
from thecal.pump.records import RequestRecord

__all__ = ["handle", "recover_requests"]

_READ_ONLY = (Interrogate, StatusSummary)


def handle(fw: FirmwareCore, request: Request) -> Response:
    """Execute one command. A repeated request id gets the stored response and nothing
    is done again; a command the role may not send is refused and logged."""
    key = f"{request.role.value}:{request.id}"
    remembered = _recall(fw, key)
    if remembered is not None:
        if remembered.command == request.command:
            return remembered.response
        return Rejected(
            Rejection.INVALID_ARGUMENT,
            f"request id {request.id!r} was already used for a different command",
        )
    command = request.command
    name = type(command).__name__
    if not permitted(request.role, command):
        response: Response = Rejected(
            Rejection.NOT_PERMITTED, f"a {request.role.value} may not send {name}"
        )
    elif not fw.electronic:
        response = Rejected(
            Rejection.NOT_PROGRAMMABLE,
            f"{fw.profile.model.label} has no electronics and no telemetry",
        )
    else:
        response = _dispatch(fw, request)
    if isinstance(response, Accepted):
        fw.log_event(
            LogKind.COMMAND,
            f"{name} from {request.role.value}: {response.message}",
            command=name,
            request=request.id,
            role=request.role.value,
            outcome="accepted",
        )
    else:
        fw.log_event(
            LogKind.COMMAND_REJECTED,
            f"{name} from {request.role.value} refused ({response.reason.value}): "
            f"{response.message}",
            command=name,
            request=request.id,
            role=request.role.value,
            outcome="rejected",
            reason=response.reason.value,
        )
    if not isinstance(command, _READ_ONLY):
        _remember(fw, request, response)
    return response


def _dispatch(fw: FirmwareCore, request: Request) -> Response:
    command = request.command
    match command:
        case Interrogate():
            release_mri_latch(fw, "interrogation")
            return Accepted("interrogated", report(fw, command.log_since))
        case StatusSummary():
            release_mri_latch(fw, "the patient controller")
            return Accepted("status", patient_status(fw))
        case WritePrescription():
            return write_prescription(fw, command)
        case RegisterRefill():
            return register_refill_command(fw, command)
        case ClinicianBolus():
            return clinician_bolus(fw, command, request.id)
        case PrimingBolus():
            return priming_bolus(fw, command, request.id)
        case BridgeBolus():
            return bridge_bolus(fw, command, request.id)
        case Stop():
            return stop(fw, command)
        case Resume():
            return resume(fw, command)
        case MinimumRate():
            return minimum_rate(fw, command)
        case SetClock():
            return set_clock(fw, command)
        case SetAlarmSettings():
            return set_alarm_settings(fw, command)
        case AcknowledgeAlarm():
            return acknowledge(fw, command)
        case AlarmTest():
            return alarm_test(fw, command)
        case PostMriCheck():
            return post_mri_check(fw, command)
        case ResetFlowValve():
            return reset_flow_valve(fw, command)
        case PatientBolusRequest():
            return patient_bolus(fw, command, request.id)
    return Rejected(Rejection.INVALID_ARGUMENT, f"unknown command {type(command).__name__}")


# -- the request memory: a ring of slots in non-volatile memory -------------------------
def recover_requests(fw: FirmwareCore) -> None:
    """Rebuild the request index from memory after a restart (newest slot last)."""
    r = fw.ram
    size = fw.profile.request_memory.value
    best: list[tuple[int, int, str]] = []
    for slot in range(size):
        try:
            found = fw.hw.memory.read_with_seq(f"request/{slot}")
        except RecordCorrupt:
            continue
        if found is None:
            continue
        record = decode_bytes(found[1])
        if isinstance(record, RequestRecord):
            best.append((found[0], slot, f"{record.role.value}:{record.id}"))
    best.sort()
    r.requests = {key: slot for _, slot, key in best}
    r.request_next = (best[-1][1] + 1) % size if best else 0


def _remember(fw: FirmwareCore, request: Request, response: Response) -> None:
    r = fw.ram
    size = fw.profile.request_memory.value
    slot = r.request_next
    r.requests = {k: v for k, v in r.requests.items() if v != slot}
    fw.hw.memory.write(
        f"request/{slot}",
        encode_bytes(RequestRecord(request.role, request.id, request.command, response)),
    )
    r.requests[f"{request.role.value}:{request.id}"] = slot
    r.request_next = (slot + 1) % size


def _recall(fw: FirmwareCore, key: str) -> RequestRecord | None:
    slot = fw.ram.requests.get(key)
    if slot is None:
        return None
    try:
        raw = fw.hw.memory.read(f"request/{slot}")
    except RecordCorrupt:
        return None
    record = decode_bytes(raw) if raw is not None else None
    return record if isinstance(record, RequestRecord) else None
