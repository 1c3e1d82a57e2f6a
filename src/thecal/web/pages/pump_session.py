"""The pump session: the clinic server as a clinician programmer for the pumps in reach.

`/pump` lists the pumps the server's programmer station reaches (`thecal.web.pumps`);
`/pump/{serial}` is one pump's session: pair with the device secret, interrogate and file
the reading in the patient's record, send the clinic's prescription after a side-by-side
review, refill with reconciliation and bridge bolus, stop, resume, alarm test.

Nothing here decides anything about the pump or the therapy. Every step calls the same
`thecal.programmer` functions the command line calls (`pair_tcp`, `open_session`,
`clinician.interrogate`, `review_against_pump`, `program`, `preview_refill`, `refill`,
`stop`, `resume`, `alarm_test`), and the clinic record is changed only through
`clinic.service` (`interrogations.file_reading`, with the typed reading).

Each request is one visit to the pump: connect, resolve the requests an earlier visit
left unanswered (shown first), do the one thing asked, disconnect. A pump that does not
answer, or stops answering mid-command, becomes a message in words; an unanswered
command stays in the station's journal and is resolved at the next visit. Link calls
block, so every endpoint does its work in the thread pool, one visit per station at a
time (the station's journal and handshake counter are files).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from thecal.clinic.access import PUMP_ACTION_PERMISSIONS, Actor, PumpAction, authorize, can
from thecal.clinic.errors import Invalid, NotFound, ServiceError
from thecal.clinic.service import Clinic, implants, interrogations, patients, prescriptions
from thecal.clinic.service.core import Call
from thecal.link.controller import (
    HandshakeRefused,
    LinkDown,
    LinkUnavailable,
    OutcomeUnknown,
    PumpBusy,
)
from thecal.link.keys import DeviceSecret
from thecal.link.messages import RefusalReason, SecurityDigest
from thecal.programmer import clinician
from thecal.programmer.calculations import CatheterData
from thecal.programmer.clinician import (
    CommandResult,
    Outcome,
    ProgrammerError,
    ProgramResult,
    RefillPreview,
    RefillRequest,
    RefillResult,
)
from thecal.programmer.connection import (
    NotIdentified,
    ResolvedRequest,
    Sender,
    Session,
    WrongPump,
    open_session,
    pair_tcp,
)
from thecal.programmer.home import PumpPairing
from thecal.programmer.reading import reading_of
from thecal.programmer.report import report_summary, security_summary
from thecal.programmer.review import Review, settings_of
from thecal.pump.commands import Accepted, Role
from thecal.pump.eventlog import LogEvent
from thecal.pump.payloads import InterrogationReport
from thecal.therapy.library import DrugLibrary
from thecal.therapy.prescription import Prescription
from thecal.therapy.projection import ReservoirProjection
from thecal.therapy.pump_models import find_catheter_model, find_pump_model
from thecal.therapy.safety import Context, Rule, Verdict
from thecal.therapy.units import QuantityParseError, format_quantity
from thecal.therapy.units import parse_concentration as parse_concentration_text
from thecal.therapy.units import parse_volume as parse_volume_text
from thecal.web.forms import FormProblems
from thecal.web.pages.prescription import UNSOURCED_KINDS
from thecal.web.pumps import ProgrammerStation, PumpInReach
from thecal.web.security import require_csrf
from thecal.web.session import ClinicDep, PageActor
from thecal.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_csrf)], include_in_schema=False)

T = TypeVar("T")

PROGRAMMER_LABEL = "thecal clinic programmer"
"""How this station names itself to a pump when it pairs (the pump's controller list)."""

BUSY_WAIT_SECONDS = 60.0
"""How long a request waits for another visit to the same station to finish."""

REMEMBERED_SENDS = 500
"""Form keys of sent refills and prescriptions remembered (a double submit sends once)."""


# --- one visit to the pump ----------------------------------------------------------------


class LinkFailure(StrEnum):
    NOT_PAIRED = "not_paired"
    UNREACHABLE = "unreachable"
    """Nothing was sent: the pump did not answer the handshake."""
    REFUSED = "refused"
    """The pump refused the connection (not enrolled, revoked, ...)."""
    UNKNOWN = "unknown"
    """A request went unanswered: it may or may not have been carried out."""
    PUMP_ERROR = "pump_error"
    BUSY = "busy"


@dataclass(frozen=True)
class LinkProblem:
    """Why a visit to the pump did not complete, in words for the page."""

    kind: LinkFailure
    message: str


@dataclass(frozen=True)
class Visit(Generic[T]):
    """What one visit to the pump produced: the work's value, or the problem; and the
    earlier unanswered requests the pump answered on connecting."""

    value: T | None = None
    resolved: tuple[ResolvedRequest, ...] = ()
    problem: LinkProblem | None = None


@dataclass
class _Desk:
    """Per station: one visit at a time, and the form keys already sent."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: OrderedDict[str, str] = field(default_factory=OrderedDict)

    def remember(self, key: str, outcome: str) -> None:
        self.sent[key] = outcome
        while len(self.sent) > REMEMBERED_SENDS:
            self.sent.popitem(last=False)


_DESKS: dict[Path, _Desk] = {}
_DESKS_LOCK = threading.Lock()


def _desk(station: ProgrammerStation) -> _Desk:
    with _DESKS_LOCK:
        return _DESKS.setdefault(Path(station.home).resolve(), _Desk())


def _refusal_words(refused: HandshakeRefused, serial: str) -> str:
    reason = refused.refusal.reason
    if reason in (RefusalReason.UNKNOWN_CONTROLLER, RefusalReason.REVOKED, RefusalReason.FAILED):
        return (
            f"pump {serial} no longer accepts this programmer ({reason.value}): its pairing "
            "was revoked or the pump was reset. Pair again with the device secret."
        )
    if reason is RefusalReason.BUSY:
        wait = refused.refusal.retry_after_s
        return (
            f"pump {serial} is busy (its connections or handshake budget are taken); try "
            f"again in {wait or 'a few'} s. Nothing was sent."
        )
    if reason in (RefusalReason.EXPIRED, RefusalReason.CREDENTIAL):
        return (
            f"pump {serial} no longer accepts this programmer's enrolment or credential "
            f"({reason.value}): renew the station's credential with the clinic's authority. "
            "Nothing was sent."
        )
    return f"pump {serial} refused the connection ({reason.value}). Nothing was sent."


def _visit(station: ProgrammerStation, pump: PumpInReach, work: Callable[[Session], T]) -> Visit[T]:
    """Connect to `pump`, resolve the journal, run `work`, disconnect: every way this can
    go wrong becomes a `LinkProblem`, never an exception."""
    home = station.controller_home()
    pairing = home.pairings().get(pump.serial)
    if pairing is None or pairing.role is not Role.CLINICIAN:
        message = f"this programmer is not paired with pump {pump.serial}"
        return Visit(problem=LinkProblem(LinkFailure.NOT_PAIRED, message))
    desk = _desk(station)
    if not desk.lock.acquire(timeout=BUSY_WAIT_SECONDS):
        return Visit(
            problem=LinkProblem(
                LinkFailure.BUSY,
                "the programmer is busy with another pump request; try again in a moment",
            )
        )
    resolved: tuple[ResolvedRequest, ...] = ()
    try:
        with open_session(home, pairing, address=pump.address) as session:
            resolved = session.resolved
            return Visit(work(session), resolved)
    except OutcomeUnknown as unknown:
        message = (
            f"The pump stopped answering: request {unknown.request_id} may or may not have "
            "been carried out (outcome unknown). It is kept in this programmer's journal and "
            "will be resolved on reconnect: the next action on this pump first asks the pump "
            "what happened."
        )
        return Visit(resolved=resolved, problem=LinkProblem(LinkFailure.UNKNOWN, message))
    except HandshakeRefused as refused:
        failure = LinkFailure.BUSY if refused.busy else LinkFailure.REFUSED
        return Visit(problem=LinkProblem(failure, _refusal_words(refused, pump.serial)))
    except PumpBusy as busy:
        wait = busy.retry_after_s
        message = (
            f"pump {pump.serial} is busy (its connections or handshake budget are taken); "
            f"try again in {wait or 'a few'} s. Nothing was sent."
        )
        return Visit(problem=LinkProblem(LinkFailure.BUSY, message))
    except (LinkUnavailable, LinkDown) as error:
        message = (
            f"pump {pump.serial} did not answer at {pump.address} ({error}). Nothing was sent; "
            "check that the pump is in reach and try again."
        )
        return Visit(problem=LinkProblem(LinkFailure.UNREACHABLE, message))
    except ProgrammerError as error:
        return Visit(resolved=resolved, problem=LinkProblem(LinkFailure.PUMP_ERROR, str(error)))
    finally:
        desk.lock.release()


# --- the clinic's side --------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """The clinic record of the pump: its active implant, patient and the prescription in
    force (matched by serial), when the clinic has one."""

    implant: implants.ImplantView
    patient: patients.PatientView
    current: prescriptions.PrescriptionView | None

    @property
    def prescription(self) -> Prescription | None:
        return self.current.prescription if self.current else None

    def catheter(self) -> CatheterData | None:
        """The implanted catheter as the bridge bolus needs it (None when the record's
        catheter data cannot give one: the refill plan then says the data is missing)."""
        try:
            return CatheterData.from_trimmed(
                find_catheter_model(self.implant.catheter_model),
                Fraction(self.implant.catheter_trimmed_length_cm),
            )
        except ValueError:
            return None


def _history(clinic: Clinic, actor: Actor, where: Where) -> Context:
    """The clinic record's safety context for sending its prescription in force: the last
    increase before that prescription, and the clinic's time now (the pump supplies what
    it runs and what it is)."""
    assert where.current is not None
    with clinic.read(actor) as call:
        return prescriptions.safety_context(
            call, where.implant.id, where.current.drug, record_id=where.current.id
        )


def _where(call: Call, serial: str) -> Where | None:
    implant = implants.find_active_by_serial(call, serial)
    if implant is None:
        return None
    return Where(
        implant,
        patients.get_patient(call, implant.patient_id),
        prescriptions.current_prescription(call, implant.id),
    )


@dataclass(frozen=True)
class Filed:
    """What the clinic made of a reading filed in the record (or why it was not filed)."""

    view: interrogations.InterrogationView | None = None
    implant: implants.ImplantView | None = None
    problem: str = ""


def _file(clinic: Clinic, actor: Actor, where: Where | None, report: InterrogationReport) -> Filed:
    """Import the reading into the matching implant's record through the clinic service
    (which checks serial and model, compares the prescription, reschedules the refill)."""
    if where is None:
        return Filed(
            problem=f"no active implant in the clinic record has serial {report.serial}:"
            " the reading was not filed"
        )
    try:
        with clinic.write(actor) as call:
            # The reading's times are the pump's clock, read in the clinic's time zone (as
            # when the command line's output is imported).
            view = interrogations.file_reading(call, where.implant.id, reading_of(report))
            after = implants.get_implant(call, where.implant.id)
    except ServiceError as error:
        accepted = f" (accepted: {error.accepted})" if error.accepted else ""
        return Filed(problem=f"the clinic did not file this reading: {error.message}{accepted}")
    return Filed(view, after)


# --- what the page shows ------------------------------------------------------------------


@dataclass(frozen=True)
class VerdictRow:
    """A safety verdict as plain text for the templates."""

    rule: str
    outcome: str
    message: str
    value: str | None
    bound: str | None
    source: str | None

    @classmethod
    def of(cls, verdict: Verdict) -> VerdictRow:
        return cls(
            verdict.rule.value,
            verdict.outcome.value,
            verdict.message,
            verdict.value_text,
            verdict.bound_text,
            verdict.citation,
        )


@dataclass(frozen=True)
class Reasons:
    """Override reasons as typed, by rule name (what the verdict macros ask for)."""

    texts: Mapping[str, str] = field(default_factory=dict)

    def reason(self, rule: str) -> str:
        return self.texts.get(str(rule), "")

    def for_rules(self) -> dict[Rule | str, str]:
        """The reasons for known rules, blank ones left out (unknown names are ignored)."""
        known = {rule.value for rule in Rule}
        return {Rule(name): text for name, text in self.texts.items() if name in known and text}


def _reasons(form: Mapping[str, Any]) -> Reasons:
    return Reasons(
        {
            key.removeprefix("reason_"): str(value).strip()[:500]
            for key, value in form.items()
            if key.startswith("reason_") and isinstance(value, str)
        }
    )


@dataclass(frozen=True)
class ReviewView:
    """A review for the page: the side-by-side rows and the verdicts."""

    review: Review
    verdicts: tuple[VerdictRow, ...]
    refused: int
    warned: int
    missing: tuple[str, ...]

    @classmethod
    def of(cls, review: Review, reasons: Reasons) -> ReviewView:
        confirmation = review.confirm(reasons.for_rules())
        return cls(
            review,
            tuple(VerdictRow.of(v) for v in review.evaluation.verdicts),
            len(review.evaluation.refusals),
            len(review.evaluation.warnings),
            tuple(rule.value for rule in confirmation.missing_reasons),
        )


@dataclass(frozen=True)
class ReportView:
    """An interrogation laid out for the page (times are the pump's local clock)."""

    report: InterrogationReport
    summary: list[tuple[str, str]]
    settings: dict[str, str]
    """The prescription stored on the pump, setting by setting."""
    events: list[LogEvent]
    """The latest events of the pump's log, newest first."""
    next_refill: ReservoirProjection | None
    replacement: clinician.ReplacementPlan
    matches_clinic: bool | None
    security: list[tuple[str, str]]
    """What the pump's security log says about the link (empty when not read)."""

    @classmethod
    def of(
        cls,
        report: InterrogationReport,
        library: DrugLibrary,
        where: Where | None,
        digest: SecurityDigest | None = None,
    ) -> ReportView:
        model = find_pump_model(report.model_id)
        matches = None
        if where is not None and where.current is not None:
            matches = report.prescription_hash == where.current.content_hash
        return cls(
            report,
            report_summary(report),
            settings_of(report.prescription, model),
            list(reversed(report.events[-12:])),
            clinician.next_refill(report, library),
            clinician.plan_replacement(report),
            matches,
            security_summary(digest) if digest is not None else [],
        )


def _resolved_words(resolved: tuple[ResolvedRequest, ...]) -> list[str]:
    words = []
    for item in resolved:
        verdict = "carried out" if isinstance(item.response, Accepted) else "refused"
        words.append(
            f"Earlier unanswered request {item.request_id} ({item.description}): the pump says "
            f"it was {verdict}: {item.response.message}"
        )
    return words


# --- access ---------------------------------------------------------------------------


def _station(request: Request) -> ProgrammerStation | None:
    station: ProgrammerStation | None = request.app.state.station
    return station


def _pump(request: Request, serial: str) -> tuple[ProgrammerStation, PumpInReach]:
    station = _station(request)
    pump = station.pump(serial) if station is not None else None
    if station is None or pump is None:
        raise NotFound(
            f"no pump with serial {serial!r} is in reach of this programmer", field="serial"
        )
    return station, pump


def _allow(actor: Actor, action: PumpAction, where: Where | None) -> None:
    authorize(actor, PUMP_ACTION_PERMISSIONS[action], where.patient.id if where else None)


@dataclass(frozen=True)
class _Reach:
    """A pump in reach, the clinic's record of it (None: no active implant has its
    serial) and the clinic's drug library, for an actor allowed the action."""

    station: ProgrammerStation
    pump: PumpInReach
    where: Where | None
    library: DrugLibrary


def _reach(
    request: Request, serial: str, clinic: Clinic, actor: Actor, action: PumpAction
) -> _Reach:
    """The pump with `serial` and its record; `Forbidden` unless `actor` may do `action`."""
    station, pump = _pump(request, serial)
    with clinic.read(actor) as call:
        where = _where(call, pump.serial)
        library = call.library
    _allow(actor, action, where)
    return _Reach(station, pump, where, library)


def _may(actor: Actor, where: Where | None) -> dict[str, bool]:
    patient_id = where.patient.id if where else None
    return {
        action.value: can(actor, PUMP_ACTION_PERMISSIONS[action], patient_id)
        for action in PumpAction
    }


def _paired(station: ProgrammerStation, serial: str) -> PumpPairing | None:
    pairing = station.controller_home().pairings().get(serial)
    return pairing if pairing is not None and pairing.role is Role.CLINICIAN else None


# --- rendering ----------------------------------------------------------------------------


@dataclass
class SessionPage:
    """Everything the session page may show after one request."""

    notice: str = ""
    blocked: str = ""
    """Why the clinic side stopped the action (nothing was sent)."""
    problem: LinkProblem | None = None
    resolved: tuple[ResolvedRequest, ...] = ()
    report: ReportView | None = None
    filed: Filed | None = None
    command: CommandResult | None = None
    programmed: ProgramResult | None = None
    refilled: RefillResult | None = None
    secret: str | None = None
    """The device secret as typed (None: the form was not posted)."""
    pairing: FormProblems = field(default_factory=FormProblems)
    """What is wrong with the pairing form: the ``secret`` field, or the attempt as a whole."""


def _session_page(
    request: Request,
    clinic: Clinic,
    actor: Actor,
    station: ProgrammerStation,
    pump: PumpInReach,
    shown: SessionPage,
    status_code: int = 200,
) -> Response:
    with clinic.read(actor) as call:
        where = _where(call, pump.serial)
    paired = _paired(station, pump.serial)
    return render(
        request,
        "pump_session.html",
        actor,
        status_code=status_code,
        pump=pump,
        paired=paired,
        where=where,
        may=_may(actor, where),
        shown=shown,
        resolved_words=_resolved_words(shown.resolved),
        secret=shown.secret if shown.secret is not None else (pump.device_secret or ""),
        secret_prefilled=shown.secret is None and pump.device_secret is not None,
        pending=len(station.controller_home().pending(pump.serial)),
    )


# --- the list -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PumpRow:
    pump: PumpInReach
    paired: bool
    where: Where | None


@router.get("/pump")
def pumps_in_reach(
    request: Request, clinic: ClinicDep, actor: PageActor, implant: int | None = None
) -> Response:
    """The pumps this server's programmer reaches; `?implant=ID` opens that implant's pump."""
    authorize(actor, PUMP_ACTION_PERMISSIONS[PumpAction.INTERROGATE])
    station = _station(request)
    missing = ""
    rows: list[PumpRow] = []
    with clinic.read(actor) as call:
        if implant is not None:
            wanted = implants.get_implant(call, implant)
            if station is not None and station.pump(wanted.serial) is not None:
                return RedirectResponse(f"/pump/{wanted.serial}", status_code=303)
            missing = wanted.serial
        if station is not None:
            pairings = station.controller_home().pairings()
            for pump in station.pumps:
                pairing = pairings.get(pump.serial)
                paired = pairing is not None and pairing.role is Role.CLINICIAN
                rows.append(PumpRow(pump, paired, _where(call, pump.serial)))
    return render(request, "pump_list.html", actor, station=station, rows=rows, missing=missing)


# --- one pump's session ----------------------------------------------------------------------


@router.get("/pump/{serial}")
def pump_session(
    request: Request, serial: str, clinic: ClinicDep, actor: PageActor, paired: int = 0
) -> Response:
    """The session page: nothing is sent to the pump until a button is pressed."""
    authorize(actor, PUMP_ACTION_PERMISSIONS[PumpAction.INTERROGATE])
    station, pump = _pump(request, serial)
    notice = ""
    pairing = _paired(station, pump.serial)
    if paired and pairing is not None:
        notice = f"Paired with pump {pump.serial} as a clinician programmer."
    return _session_page(request, clinic, actor, station, pump, SessionPage(notice=notice))


# --- pairing --------------------------------------------------------------------------------


@router.post("/pump/{serial}/pair")
async def pair(request: Request, serial: str, clinic: ClinicDep, actor: PageActor) -> Response:
    form = await request.form()
    secret = str(form.get("secret", ""))
    return await run_in_threadpool(_pair, request, serial, clinic, actor, secret)


def _pair_problems(refused: HandshakeRefused) -> FormProblems:
    refusal = refused.refusal
    if refusal.reason is RefusalReason.WRONG_SECRET:
        return FormProblems(fields={"secret": (
            "The pump refused this device secret: check it against the implant card. After "
            "several wrong secrets the pump locks pairing for a while.")})  # fmt: skip
    if refusal.reason is RefusalReason.PAIRING_CLOSED:
        return FormProblems(general=(
            "The pump's pairing window is closed: open it (the programming head or magnet "
            "over the pump) and try again.",))  # fmt: skip
    if refusal.reason is RefusalReason.PAIRING_LOCKED:
        wait = f" for {refusal.retry_after_s} s" if refusal.retry_after_s else ""
        return FormProblems(general=(f"Too many wrong device secrets: the pump has locked "
                                     f"pairing{wait}.",))  # fmt: skip
    if refusal.reason in (RefusalReason.CREDENTIAL, RefusalReason.NEEDS_CLINICIAN_WINDOW):
        return FormProblems(general=(
            "The pump did not accept this station's clinician credential (it is missing, "
            "expired, or from an authority the pump does not trust): renew it with the "
            "clinic's authority. The device secret alone never pairs a clinician.",))  # fmt: skip
    if refusal.reason is RefusalReason.REVOKED:
        return FormProblems(general=(
            "This station's key was revoked on this pump: only a clinician session from "
            "another programmer can enrol it again.",))  # fmt: skip
    if refusal.reason is RefusalReason.BUSY:
        return FormProblems(general=(_refusal_words(refused, "the"),))
    return FormProblems(general=(f"The pump refused to pair ({refusal.reason.value}).",))


class _NoCredential(Exception):
    pass


def _pair(request: Request, serial: str, clinic: Clinic, actor: Actor, typed: str) -> Response:
    reach = _reach(request, serial, clinic, actor, PumpAction.PAIR)
    station, pump = reach.station, reach.pump
    shown = SessionPage(secret=typed)
    try:
        secret = DeviceSecret.parse(typed)
    except ValueError as error:
        shown.pairing = FormProblems(fields={"secret": str(error).removeprefix("device secret: ")})
        return _session_page(request, clinic, actor, station, pump, shown, 422)
    desk = _desk(station)
    if not desk.lock.acquire(timeout=BUSY_WAIT_SECONDS):
        shown.pairing = FormProblems(general=("The programmer is busy with another pump "
                                              "request; try again.",))  # fmt: skip
        return _session_page(request, clinic, actor, station, pump, shown, 422)
    try:
        home = station.controller_home()
        if home.credential() is None:
            raise _NoCredential
        pair_tcp(home, pump.address, secret, PROGRAMMER_LABEL, serial=pump.serial)
    except _NoCredential:
        shown.pairing = FormProblems(general=(
            "This station holds no clinician credential, so no pump would accept it as a "
            "clinician: install one signed by the clinic's authority.",))  # fmt: skip
    except HandshakeRefused as refused:
        shown.pairing = _pair_problems(refused)
    except WrongPump as wrong:
        shown.pairing = FormProblems(general=(str(wrong),))
    except NotIdentified:
        shown.pairing = FormProblems(general=(
            "The pump's pairing window is closed: open it (the programming head or magnet "
            "over the pump) and try again.",))  # fmt: skip
    except PumpBusy as busy:
        shown.pairing = FormProblems(general=(f"{busy}.",))
    except (LinkUnavailable, LinkDown) as error:
        shown.pairing = FormProblems(general=(
            f"The pump did not answer at {pump.address} ({error}): check that it is in reach "
            "and try again. Nothing was paired.",))  # fmt: skip
    except ValueError as error:  # a malformed address in the station's list
        shown.pairing = FormProblems(general=(str(error),))
    finally:
        desk.lock.release()
    if shown.pairing:
        return _session_page(request, clinic, actor, station, pump, shown, 422)
    return RedirectResponse(f"/pump/{pump.serial}?paired=1", status_code=303)


# --- interrogate and file ---------------------------------------------------------------------


@router.post("/pump/{serial}/interrogate")
async def interrogate(
    request: Request, serial: str, clinic: ClinicDep, actor: PageActor
) -> Response:
    """Read the pump (resolving any unanswered request first) and show the report."""
    return await run_in_threadpool(_interrogate, request, serial, clinic, actor, False)


@router.post("/pump/{serial}/import")
async def import_reading(
    request: Request, serial: str, clinic: ClinicDep, actor: PageActor
) -> Response:
    """Read the pump and file that reading in the matching patient's implant record."""
    return await run_in_threadpool(_interrogate, request, serial, clinic, actor, True)


def _interrogate(
    request: Request, serial: str, clinic: Clinic, actor: Actor, file: bool
) -> Response:
    # Filing the reading needs the same permission as reading the pump (interrogation
    # import); the clinic service checks it again when it files.
    reach = _reach(request, serial, clinic, actor, PumpAction.INTERROGATE)
    station, pump, where, library = reach.station, reach.pump, reach.where, reach.library

    def work(session: Session) -> tuple[InterrogationReport, SecurityDigest]:
        return clinician.interrogate(session.link), clinician.security_digest(session.link)

    visit = _visit(station, pump, work)
    shown = SessionPage(problem=visit.problem, resolved=visit.resolved)
    if visit.value is not None:
        report, digest = visit.value
        shown.report = ReportView.of(report, library, where, digest)
        if file:
            shown.filed = _file(clinic, actor, where, report)
    return _session_page(request, clinic, actor, station, pump, shown)


# --- stop, resume, alarm test -------------------------------------------------------------------


class Control(StrEnum):
    STOP = "stop"
    RESUME = "resume"
    ALARM_TEST = "alarm_test"


@dataclass(frozen=True)
class ControlSpec:
    """One control: the permission it needs, the workflow that sends it, the question the
    confirmation asks and what the command does."""

    action: PumpAction
    workflow: Callable[[Sender], CommandResult]
    title: str
    explanation: str


CONTROLS: dict[Control, ControlSpec] = {
    Control.STOP: ControlSpec(
        PumpAction.STOP,
        clinician.stop,
        "Stop all delivery",
        "The pump stops delivering until therapy is resumed: the patient receives no drug. "
        "Stopping intrathecal therapy abruptly can cause withdrawal, life-threatening for "
        "baclofen.",
    ),
    Control.RESUME: ControlSpec(
        PumpAction.RESUME,
        clinician.resume,
        "Resume delivery",
        "The pump resumes the prescription stored on it.",
    ),
    Control.ALARM_TEST: ControlSpec(
        PumpAction.ALARM_TEST,
        clinician.alarm_test,
        "Sound the alarm test",
        "The pump sounds every alarm tone once, so the patient knows them.",
    ),
}


@router.post("/pump/{serial}/control")
async def control(request: Request, serial: str, clinic: ClinicDep, actor: PageActor) -> Response:
    """Stop, resume or alarm test: the first post asks for confirmation, the confirmed
    one sends the command and reads the pump back."""
    form = await request.form()
    name = str(form.get("command", ""))
    confirmed = form.get("confirmed") == "yes"
    return await run_in_threadpool(_control, request, serial, clinic, actor, name, confirmed)


def _control(
    request: Request, serial: str, clinic: Clinic, actor: Actor, name: str, confirmed: bool
) -> Response:
    try:
        spec = CONTROLS[Control(name)]
    except ValueError:
        accepted = ", ".join(control.value for control in Control)
        raise Invalid(f"command: no pump command {name!r}", field="command",
                      accepted=accepted) from None  # fmt: skip
    reach = _reach(request, serial, clinic, actor, spec.action)
    station, pump, where, library = reach.station, reach.pump, reach.where, reach.library
    if not confirmed:
        return render(request, "pump_confirm.html", actor, pump=pump, where=where,
                      command=name, spec=spec)  # fmt: skip

    def work(session: Session) -> tuple[CommandResult, InterrogationReport | None]:
        result = spec.workflow(session.link)
        return result, clinician.interrogate(session.link)

    visit = _visit(station, pump, work)
    shown = SessionPage(problem=visit.problem, resolved=visit.resolved)
    if visit.value is not None:
        shown.command, report = visit.value
        if report is not None:
            shown.report = ReportView.of(report, library, where)
    return _session_page(request, clinic, actor, station, pump, shown)


# --- program --------------------------------------------------------------------------------


@router.post("/pump/{serial}/program")
async def program(request: Request, serial: str, clinic: ClinicDep, actor: PageActor) -> Response:
    """Review the clinic's current prescription against the pump (``action=review``), then
    send it (``action=send``, only from the review, with its hashes)."""
    form = await request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    return await run_in_threadpool(_program, request, serial, clinic, actor, values)


@dataclass(frozen=True)
class _Reviewed:
    """What the review showed, echoed by the send (so a changed pump or record is caught)."""

    prescription_id: str
    content_hash: str
    pump_hash: str
    key: str


def _program_review_page(
    request: Request,
    actor: Actor,
    pump: PumpInReach,
    where: Where,
    report: InterrogationReport,
    checked: Review,
    reasons: Reasons,
    *,
    resolved: tuple[ResolvedRequest, ...] = (),
    problem: str = "",
    key: str = "",
    status_code: int = 200,
    show_missing: bool = False,
) -> Response:
    assert where.current is not None
    reviewed = _Reviewed(
        str(where.current.id),
        checked.content_hash,
        report.prescription_hash or "",
        key or f"program-{uuid.uuid4().hex}",
    )
    view = ReviewView.of(checked, reasons)
    reason_errors = (
        {
            rule: f"a reason is required to override {rule.replace('_', ' ')}"
            for rule in view.missing
        }
        if show_missing
        else {}
    )
    return render(
        request,
        "pump_program.html",
        actor,
        status_code=status_code,
        pump=pump,
        where=where,
        report=report,
        view=view,
        reasons=reasons,
        reason_errors=reason_errors,
        reviewed=reviewed,
        problem=problem,
        resolved_words=_resolved_words(resolved),
        unsourced=UNSOURCED_KINDS,
    )


def _program(
    request: Request, serial: str, clinic: Clinic, actor: Actor, values: dict[str, str]
) -> Response:
    reach = _reach(request, serial, clinic, actor, PumpAction.PROGRAM)
    station, pump, where, library = reach.station, reach.pump, reach.where, reach.library
    if where is None or where.current is None or where.prescription is None:
        blocked = (
            f"There is no clinic prescription to send: the clinic has no active implant with "
            f"serial {pump.serial}, or it has no prescription in force. Nothing was sent."
        )
        return _session_page(
            request, clinic, actor, station, pump, SessionPage(blocked=blocked), 409
        )
    rx = where.prescription
    history = _history(clinic, actor, where)
    reasons = _reasons(values)
    sending = values.get("action") == "send"
    echoed = _Reviewed(
        values.get("prescription_id", ""),
        values.get("content_hash", ""),
        values.get("pump_hash", ""),
        values.get("key", ""),
    )
    desk = _desk(station)
    if sending and echoed.key in desk.sent:
        shown = SessionPage(
            notice=f"This prescription was already sent from that review: "
            f"{desk.sent[echoed.key]}. It was not sent again."
        )
        return _session_page(request, clinic, actor, station, pump, shown)
    # A send must echo the review it came from; anything else is shown the review again.
    if not sending:
        hold = ""
    elif not (echoed.key and echoed.content_hash and echoed.prescription_id):
        hold = "A prescription is sent only from its review: check the review below first."
    elif echoed.prescription_id != str(where.current.id) or echoed.content_hash != rx.content_hash:
        hold = "The clinic's prescription changed since your review: review it again."
    else:
        hold = ""

    def work(session: Session) -> tuple[InterrogationReport, Review, ProgramResult | None, str]:
        report = clinician.interrogate(session.link)
        checked = clinician.review_against_pump(rx, report, library, history)
        if not sending or hold:
            return report, checked, None, hold
        if (report.prescription_hash or "") != echoed.pump_hash:
            changed = "The pump's settings changed since your review: review again before sending."
            return report, checked, None, changed
        result = clinician.program(session.link, checked, reasons.for_rules())
        if result.outcome is not Outcome.NOT_SENT:
            desk.remember(echoed.key, f"{result.outcome.value}: {result.message}")
        return report, checked, result, ""

    visit = _visit(station, pump, work)
    if visit.problem is not None or visit.value is None:
        if sending and visit.problem is not None and visit.problem.kind is LinkFailure.UNKNOWN:
            desk.remember(echoed.key, "outcome unknown (resolved on reconnect)")
        shown = SessionPage(problem=visit.problem, resolved=visit.resolved)
        return _session_page(request, clinic, actor, station, pump, shown)
    report, checked, result, problem = visit.value
    if result is None or result.outcome is Outcome.NOT_SENT:
        missing = result is not None
        return _program_review_page(
            request,
            actor,
            pump,
            where,
            report,
            checked,
            reasons,
            resolved=visit.resolved,
            problem=problem or (result.message if result else ""),
            key="" if problem else echoed.key,
            show_missing=missing,
            status_code=422 if (problem or missing) else 200,
        )
    shown = SessionPage(resolved=visit.resolved, programmed=result)
    return _session_page(request, clinic, actor, station, pump, shown)


# --- refill ---------------------------------------------------------------------------------


REFILL_FIELDS = ("aspirated", "fill", "drug", "concentration", "send_prescription", "key")


@router.post("/pump/{serial}/refill")
async def refill(request: Request, serial: str, clinic: ClinicDep, actor: PageActor) -> Response:
    """The refill: ``action=start`` (read the pump, show the form), ``review`` (the plan:
    reconciliation, bridge bolus, prescription review), ``edit``, ``send``."""
    form = await request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    return await run_in_threadpool(_refill, request, serial, clinic, actor, values)


@dataclass(frozen=True)
class RefillEntries:
    """The refill form as typed (kept whatever happens), and the parse of it."""

    values: dict[str, str]
    problems: FormProblems
    request: RefillRequest | None


def _entries(values: dict[str, str], where: Where | None, reasons: Reasons) -> RefillEntries:
    kept = {name: values.get(name, "").strip() for name in REFILL_FIELDS}
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    parsers: tuple[tuple[str, Callable[[object, str], Any], str], ...] = (
        ("aspirated", parse_volume_text, "aspirated volume"),
        ("fill", parse_volume_text, "fill volume"),
        ("concentration", parse_concentration_text, "concentration"),
    )
    for name, parse, label in parsers:
        if not kept[name]:
            errors[name] = f"{label}: required"
            continue
        try:
            parsed[name] = parse(kept[name], label)
        except QuantityParseError as error:
            errors[name] = str(error)
    if not kept["drug"]:
        errors["drug"] = "drug: required"
    rx = where.prescription if where is not None and kept["send_prescription"] == "on" else None
    if errors:
        return RefillEntries(kept, FormProblems(fields=errors), None)
    catheter = where.catheter() if where is not None else None
    request = RefillRequest(
        aspirated=parsed["aspirated"],
        new_volume=parsed["fill"],
        drug=kept["drug"],
        concentration=parsed["concentration"],
        prescription=rx,
        catheter=catheter,
        reasons=reasons.for_rules(),
    )
    return RefillEntries(kept, FormProblems(), request)


def _refill_page(
    request: Request,
    actor: Actor,
    library: DrugLibrary,
    pump: PumpInReach,
    where: Where | None,
    step: str,
    entries: RefillEntries,
    reasons: Reasons,
    *,
    report: InterrogationReport | None = None,
    plan: RefillPreview | None = None,
    resolved: tuple[ResolvedRequest, ...] = (),
    show_missing: bool = False,
    status_code: int = 200,
) -> Response:
    review = ReviewView.of(plan.review, reasons) if plan and plan.review else None
    reason_errors = (
        {
            rule: f"a reason is required to override {rule.replace('_', ' ')}"
            for rule in review.missing
        }
        if review is not None and show_missing
        else {}
    )
    return render(
        request,
        "pump_refill.html",
        actor,
        status_code=status_code,
        pump=pump,
        where=where,
        step=step,
        values=entries.values,
        errors=entries.problems,
        drugs=library.drugs,
        report=report,
        plan=plan,
        review=review,
        reasons=reasons,
        reason_errors=reason_errors,
        may=_may(actor, where),
        resolved_words=_resolved_words(resolved),
        unsourced=UNSOURCED_KINDS,
    )


def _defaults(report: InterrogationReport) -> dict[str, str]:
    return {
        "aspirated": "",
        "fill": format_quantity(report.reservoir.capacity),
        "drug": report.reservoir.drug,
        "concentration": format_quantity(report.reservoir.concentration),
        "send_prescription": "",
        "key": f"refill-{uuid.uuid4().hex}",
    }


@dataclass(frozen=True)
class _Refilled:
    """One refill visit: the reading before, the plan, and (when sent) the result and the
    reading after."""

    before: InterrogationReport
    plan: RefillPreview
    result: RefillResult | None = None
    after: InterrogationReport | None = None


def _refill(
    request: Request, serial: str, clinic: Clinic, actor: Actor, values: dict[str, str]
) -> Response:
    reach = _reach(request, serial, clinic, actor, PumpAction.REFILL)
    station, pump, where, library = reach.station, reach.pump, reach.where, reach.library
    action = values.get("action", "start")
    reasons = _reasons(values)
    entries = _entries(values, where, reasons)
    if not entries.values["key"]:
        entries.values["key"] = f"refill-{uuid.uuid4().hex}"
    if entries.request is not None and entries.request.prescription is not None:
        # Writing a prescription with the refill changes what the pump delivers.
        _allow(actor, PumpAction.PROGRAM, where)
        assert where is not None  # a prescription to send is the record's
        known = replace(entries.request, history=_history(clinic, actor, where))
        entries = replace(entries, request=known)
    if action == "start":
        visit = _visit(station, pump, lambda session: clinician.interrogate(session.link))
        if visit.value is None:
            shown = SessionPage(problem=visit.problem, resolved=visit.resolved)
            return _session_page(request, clinic, actor, station, pump, shown)
        fresh = RefillEntries(_defaults(visit.value), FormProblems(), None)
        return _refill_page(
            request,
            actor,
            library,
            pump,
            where,
            "edit",
            fresh,
            reasons,
            report=visit.value,
            resolved=visit.resolved,
        )
    if action == "edit":
        kept = RefillEntries(entries.values, FormProblems(), None)
        return _refill_page(request, actor, library, pump, where, "edit", kept, reasons)
    if entries.request is None:
        return _refill_page(
            request, actor, library, pump, where, "edit", entries, reasons, status_code=422
        )
    desk = _desk(station)
    key = entries.values["key"]
    sending = action == "send"
    if sending and key in desk.sent:
        shown = SessionPage(
            notice=f"This refill was already sent from that review: "
            f"{desk.sent[key]}. It was not sent again."
        )
        return _session_page(request, clinic, actor, station, pump, shown)
    asked = entries.request

    def work(session: Session) -> _Refilled:
        before = clinician.interrogate(session.link)
        plan = clinician.preview_refill(before, asked, library)
        if not sending or plan.refusal is not None:
            return _Refilled(before, plan)
        # `refill` reads the pump and makes the same checks again before sending.
        result = clinician.refill(session.link, asked, library)
        if result.outcome is not Outcome.NOT_SENT:
            desk.remember(key, f"{result.outcome.value}: {result.message}")
        # After a refill the reservoir, and perhaps the prescription, changed: read the
        # pump back so the clinic record can follow it.
        after = clinician.interrogate(session.link) if result.reconciliation else None
        return _Refilled(before, plan, result, after)

    sent = _visit(station, pump, work)
    if sent.value is None:
        if sending and sent.problem is not None and sent.problem.kind is LinkFailure.UNKNOWN:
            desk.remember(key, "outcome unknown (resolved on reconnect)")
        shown = SessionPage(problem=sent.problem, resolved=sent.resolved)
        return _session_page(request, clinic, actor, station, pump, shown)
    done = sent.value
    if done.result is None or done.result.outcome is Outcome.NOT_SENT:
        # Nothing reached the pump: the review again, with what is missing.
        return _refill_page(
            request,
            actor,
            library,
            pump,
            where,
            "review",
            entries,
            reasons,
            report=done.before,
            plan=done.plan,
            resolved=sent.resolved,
            show_missing=sending,
            status_code=422 if sending else 200,
        )
    shown = SessionPage(resolved=sent.resolved, refilled=done.result)
    if done.after is not None:
        shown.report = ReportView.of(done.after, library, where)
        shown.filed = _file(clinic, actor, where, done.after)
    return _session_page(request, clinic, actor, station, pump, shown)
