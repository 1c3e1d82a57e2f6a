"""The clinician programmer's workflows: each a function of a connected `Sender`,
returning a typed result that says exactly what happened on the pump.

* `interrogate` — the pump's full report;
* `review` + `program` — safety verdicts, pending and current side by side, confirmation
  with a reason for every soft-limit override, write, read back and verify the hash;
* `refill` — reconcile aspirated against expected, refuse an aspirate or fill beyond the
  reservoir, register the new solution, write its prescription and run the bridge bolus
  on a drug or concentration change, and show the next refill-by date (every refill
  rule is the therapy core's `thecal.therapy.refill`, which the pump calls too);
* `implant` — write the first prescription and run the priming bolus computed from the
  catheter data (which starts therapy);
* `stop`, `minimum_rate`, `resume`, `alarm_test`, `post_mri_check`, `reset_flow_valve`;
* `replacement_plan` — battery ERI and end-of-service planning;
* `enrol_controller`, `revoke_controller`, `controllers`, `open_pairing`,
  `trust_authority`, `remove_authority` — who may talk to the pump;
* `security_digest` — what the pump's security log holds for the clinic (read with
  every interrogation by the command line and the pump session page).

Nothing is written unless the review is confirmed; a refusal by the pump is reported
with its reason and means nothing changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from thecal.link.messages import (
    ControllerList,
    EnrolController,
    LinkCommand,
    ListControllers,
    OpenPairing,
    ReadSecurityLog,
    RemoveAuthority,
    RevokeController,
    SecurityDigest,
    TrustAuthority,
)
from thecal.programmer.calculations import (
    MAX_PUMP_BOLUS,
    BridgePlan,
    CatheterData,
    PrimingPlan,
    bridge_bolus,
    priming_bolus,
)
from thecal.programmer.connection import Sender
from thecal.programmer.review import Review, review
from thecal.pump.alarms import AlarmKind
from thecal.pump.battery import project_battery
from thecal.pump.commands import (
    Accepted,
    AlarmTest,
    BridgeBolus,
    Command,
    Interrogate,
    MinimumRate,
    PostMriCheck,
    PrimingBolus,
    RegisterRefill,
    Rejected,
    Rejection,
    ResetFlowValve,
    Response,
    Resume,
    Role,
    SetAlarmSettings,
    Stop,
    WritePrescription,
)
from thecal.pump.eventlog import LogKind
from thecal.pump.payloads import (
    BatteryState,
    InterrogationReport,
    RefillReconciliation,
)
from thecal.therapy.delivery import programmed_daily_dose
from thecal.therapy.library import DrugLibrary, default_library
from thecal.therapy.prescription import Prescription
from thecal.therapy.projection import ReservoirProjection, prescription_pattern, project_reservoir
from thecal.therapy.pump_models import PumpModel, find_pump_model
from thecal.therapy.quantities import Concentration, Duration, Volume, VolumeRate
from thecal.therapy.refill import (
    Reconciliation,
    RefillVolume,
    Solution,
    VolumeRefusal,
    VolumeRule,
    check_refill_volumes,
    check_solution,
    drug_identity,
    expect_from_pump,
    reconcile,
)
from thecal.therapy.safety import Confirmation, Context, Rule

__all__ = [
    "REPLACEMENT_LEAD",
    "CommandResult",
    "ImplantResult",
    "Outcome",
    "ProgramResult",
    "ProgrammerError",
    "RefillPreview",
    "RefillRequest",
    "RefillResult",
    "ReplacementPlan",
    "alarm_test",
    "controllers",
    "enrol_controller",
    "implant",
    "interrogate",
    "minimum_rate",
    "next_refill",
    "open_pairing",
    "plan_replacement",
    "post_mri_check",
    "preview_refill",
    "program",
    "reconcile_at_pump",
    "refill",
    "remove_authority",
    "replacement_plan",
    "reset_flow_valve",
    "resume",
    "review_against_pump",
    "revoke_controller",
    "security_digest",
    "set_alarm_settings",
    "stop",
    "trust_authority",
]

REPLACEMENT_LEAD = timedelta(days=182)
"""Schedule replacement about six months before the pump shuts off (devices.md [S17])."""


class ProgrammerError(Exception):
    """The pump answered something a workflow cannot continue from (e.g. a read refused)."""


class Outcome(StrEnum):
    DONE = "done"
    """Carried out and, where there is something to read back, verified."""
    NOT_SENT = "not_sent"
    """Stopped before anything was sent (review not confirmed, overfill, missing data)."""
    REFUSED_BY_PUMP = "refused_by_pump"
    """The pump refused: nothing changed."""
    VERIFY_FAILED = "verify_failed"
    """The pump accepted but the read-back does not match: treat the pump as unknown."""


@dataclass(frozen=True)
class CommandResult:
    """One command's answer, flattened for display."""

    command: str
    accepted: bool
    message: str
    reason: Rejection | None = None
    payload: object | None = None
    retry_after: datetime | None = None

    @classmethod
    def of(cls, command: Command | object, response: Response) -> CommandResult:
        name = type(command).__name__
        if isinstance(response, Accepted):
            return cls(name, True, response.message, None, response.payload)
        return cls(
            name, False, response.message, response.reason, response.payload, response.retry_after
        )


def _send(link: Sender, command: Command | LinkCommand) -> CommandResult:
    return CommandResult.of(command, link.call(command))


# -- interrogate -----------------------------------------------------------------


def interrogate(link: Sender, log_since: int | None = None) -> InterrogationReport:
    """The pump's full report: therapy, prescription, reservoir estimate and alarm date,
    battery and ERI, alarms, event log (from `log_since` on)."""
    response = link.call(Interrogate(log_since))
    if isinstance(response, Rejected) or not isinstance(response.payload, InterrogationReport):
        raise ProgrammerError(f"the pump refused to be interrogated: {response.message}")
    return response.payload


def _pump_model(report: InterrogationReport) -> PumpModel:
    return find_pump_model(report.model_id)


def next_refill(
    report: InterrogationReport, library: DrugLibrary | None = None
) -> ReservoirProjection | None:
    """Refill-by date from the reservoir estimate and the stored prescription, counting
    every patient bolus the settings allow, and the drug's stability limit counted from
    the fill (the first-fill limit after implant)."""
    rx = report.prescription
    if rx is None:
        return None
    library = library or default_library()
    entry = library.find(rx.drug)
    # The implant fill is a first fill (e.g. ziconotide: refill within 14 days) until the
    # log shows a refill; a log that no longer reaches back to the implant is not one.
    kinds = {event.kind for event in report.events}
    first_fill = LogKind.IMPLANT in kinds and LogKind.REFILL not in kinds
    stability = (
        entry.refill_limit(rx.concentration, first_fill).value if entry is not None else None
    )
    model = _pump_model(report)
    start = report.local_time
    remaining: Duration | None = None
    if stability is not None:  # stability runs from the fill, not from now
        elapsed = Duration.from_timedelta(start - report.reservoir.filled_at)
        remaining = max(stability - elapsed, Duration.zero())
    pattern = prescription_pattern(rx, start, model.minimum_rate.value, True)
    return project_reservoir(
        pattern, report.reservoir.estimated, report.reservoir.low_threshold, start, remaining
    )


# -- program ---------------------------------------------------------------------


def review_against_pump(
    proposed: Prescription,
    report: InterrogationReport,
    library: DrugLibrary | None = None,
    history: Context | None = None,
) -> Review:
    """The safety review of `proposed` against what the pump runs now.

    What the pump runs and what kind of pump it is always come from `report`. `history`
    gives what the pump cannot know: when the dose last went up and the time now on the
    same clock (the clinic builds it from its record:
    `thecal.clinic.service.prescriptions.safety_context`). Without a time in it, now is
    the pump's own clock; without it, no earlier increase is known."""
    known = history or Context()
    context = replace(
        known,
        current=report.prescription,
        pump=_pump_model(report),
        now=known.now if known.now is not None else report.local_time,
    )
    return review(proposed, library or default_library(), context)


@dataclass(frozen=True)
class ProgramResult:
    outcome: Outcome
    review: Review
    confirmation: Confirmation
    response: CommandResult | None = None
    read_back_hash: str | None = None
    message: str = ""


def program(link: Sender, checked: Review, reasons: Mapping[Rule | str, str]) -> ProgramResult:
    """Confirm, write and verify: nothing is sent unless every refusal is absent and every
    soft-limit warning has a reason; after the write the pump is read back and its stored
    prescription's hash must equal the reviewed one."""
    confirmation = checked.confirm(reasons)
    if not confirmation.confirmed:
        return ProgramResult(
            Outcome.NOT_SENT, checked, confirmation, message=confirmation.explain()
        )
    rx = checked.proposed
    command = WritePrescription(rx, rx.content_hash)
    result = _send(link, command)
    if not result.accepted:
        return ProgramResult(
            Outcome.REFUSED_BY_PUMP,
            checked,
            confirmation,
            result,
            message=f"the pump refused the prescription ({result.reason}): {result.message}",
        )
    stored = interrogate(link).prescription_hash
    if stored != rx.content_hash:
        return ProgramResult(
            Outcome.VERIFY_FAILED,
            checked,
            confirmation,
            result,
            stored,
            f"read-back hash {stored} does not match the reviewed {rx.content_hash}: "
            "interrogate the pump and do not rely on the new settings",
        )
    return ProgramResult(
        Outcome.DONE,
        checked,
        confirmation,
        result,
        stored,
        f"prescription {rx.content_hash[:16]} written and verified",
    )


# -- refill ----------------------------------------------------------------------


@dataclass(frozen=True)
class RefillRequest:
    """A refill: what was aspirated, what the reservoir now holds, and (for a drug or
    concentration change) the new solution, its prescription and the catheter data the
    bridge bolus needs. A `prescription` without a solution change reprograms too."""

    aspirated: Volume
    new_volume: Volume
    drug: str | None = None
    concentration: Concentration | None = None
    prescription: Prescription | None = None
    catheter: CatheterData | None = None
    reasons: Mapping[Rule | str, str] = field(default_factory=dict)
    history: Context | None = None
    """The last increase and the time now, for the prescription's review (see
    `review_against_pump`)."""

    def __post_init__(self) -> None:
        # A zero concentration is no solution at all; it must not read as "unchanged".
        if self.concentration is not None and self.concentration.amount <= 0:
            raise ValueError(
                f"concentration: {self.concentration} is not a solution; accepted: more than "
                'zero, e.g. "10 mg/mL"'
            )
        if self.drug is not None and not self.drug.strip():
            raise ValueError("drug: empty; accepted: a drug of the library, e.g. morphine")


@dataclass(frozen=True)
class RefillResult:
    outcome: Outcome
    message: str
    expected_remaining: Volume | None = None
    reconciliation: RefillReconciliation | None = None
    likely_causes: tuple[str, ...] = ()
    review: Review | None = None
    program: ProgramResult | None = None
    bridge: BridgePlan | None = None
    bridge_result: CommandResult | None = None
    next_refill: ReservoirProjection | None = None


@dataclass(frozen=True)
class RefillPreview:
    """What a refill would do, decided from an interrogation before anything is sent.

    `refill` sends nothing unless `refusal` is None; a preview (the command line without
    ``--confirm``, the clinic's pump session page) shows the same checks, so what the
    clinician reviews is exactly what the refill checks. Volumes in mL as exact
    quantities; `difference` is aspirated minus expected (negative: less came back).
    `reconciliation` is the refill rules' reconciliation of this aspirate against the
    pump's own record: what the pump will find when the refill is registered."""

    expected_remaining: Volume
    """The pump's estimate of what is left (programmed delivery and the boluses it gave)."""
    aspirated: Volume
    difference: Volume
    capacity: Volume
    new_volume: Volume
    drug: str
    """The new solution's drug as the library names it (an alias becomes its drug)."""
    concentration: Concentration
    solution_change: bool
    """The drug or concentration differs from what the reservoir holds."""
    reconciliation: Reconciliation | None = None
    """None when the aspirate itself is refused."""
    volume_refusals: tuple[VolumeRefusal, ...] = ()
    review: Review | None = None
    """The safety review of the prescription to write with the refill, if any."""
    confirmation: Confirmation | None = None
    bridge: BridgePlan | None = None
    refusal: str | None = None
    """Why nothing would be sent (the first check that failed); None: ready to send."""
    awaiting_reasons: bool = False
    """Every check passes except that soft-limit warnings still need their reasons."""

    def _refused(self, volume: RefillVolume) -> bool:
        return any(
            r.volume is volume and r.rule is VolumeRule.OVER_CAPACITY for r in self.volume_refusals
        )

    @property
    def over_capacity(self) -> bool:
        """The fill is more than the reservoir holds."""
        return self._refused(RefillVolume.FILL)

    @property
    def aspirate_over_capacity(self) -> bool:
        """The aspirate is more than the reservoir holds: misread, or not from it."""
        return self._refused(RefillVolume.ASPIRATED)

    @property
    def needs_reasons(self) -> tuple[Rule, ...]:
        """Soft-limit warnings still without a reason."""
        return self.confirmation.missing_reasons if self.confirmation is not None else ()


def reconcile_at_pump(
    report: InterrogationReport, aspirated: Volume, library: DrugLibrary | None = None
) -> Reconciliation:
    """The refill rules' reconciliation of `aspirated` against the pump's own record in
    `report` (its estimate, its fill, its empty-reservoir alarm): the same inputs the
    pump reconciles with when the refill is registered."""
    library = library or default_library()
    reservoir = report.reservoir
    empty_alarm = next(
        (a.raised_at for a in report.alarms if a.kind is AlarmKind.EMPTY_RESERVOIR), None
    )
    expectation = expect_from_pump(
        report.local_time, reservoir.filled_at, reservoir.fill_volume, reservoir.estimated,
        empty_alarm,
    )  # fmt: skip
    return reconcile(expectation, aspirated, _pump_model(report), library.find(reservoir.drug))


def preview_refill(
    before: InterrogationReport, request: RefillRequest, library: DrugLibrary | None = None
) -> RefillPreview:
    """Every check `refill` makes before sending, in the same order, as a pure function
    of the interrogation: aspirate and fill within the reservoir, a prescription matching
    a new solution (the drug by its library name or alias), the catheter data and a
    bridge bolus that fits one pump bolus, and a confirmed review (every soft-limit
    warning with a reason). The first failure becomes `refusal`; the parts that could
    be computed are filled in either way, for the preview."""
    library = library or default_library()
    reservoir = before.reservoir
    expected = reservoir.estimated
    held = Solution(reservoir.drug, reservoir.concentration)
    drug = drug_identity(library, request.drug or reservoir.drug)
    concentration = (
        request.concentration if request.concentration is not None else reservoir.concentration
    )
    new = Solution(drug, concentration)
    changed = not check_solution(library, held, new).matches
    refusals: list[str] = []
    capacity = reservoir.capacity
    volume_refusals = check_refill_volumes(capacity, request.new_volume, request.aspirated)
    refusals.extend(f"refused: {r.message}" for r in volume_refusals)
    aspirate_ok = not any(r.volume is RefillVolume.ASPIRATED for r in volume_refusals)
    reconciliation = reconcile_at_pump(before, request.aspirated, library) if aspirate_ok else None
    rx = request.prescription
    matches = (
        rx is not None and check_solution(library, new, Solution(rx.drug, rx.concentration)).matches
    )
    bridge: BridgePlan | None = None
    if changed:
        if rx is None:
            refusals.append(
                "a drug or concentration change needs the prescription for the new solution"
            )
        elif not matches:
            refusals.append(
                f"the prescription is for {rx.drug} at {rx.concentration}, the new solution is "
                f"{drug} at {concentration}"
            )
        if before.prescription is not None and before.prescription.delivers:
            if request.catheter is None:
                refusals.append(
                    "the bridge bolus needs the catheter data (model and implanted length)"
                )
            else:
                bridge = bridge_bolus(
                    _pump_model(before), request.catheter, before.prescription, concentration
                )
                if not bridge.fits_one_bolus:
                    refusals.append(
                        f"the bridge bolus would take {bridge.duration} (the old solution "
                        f"{bridge.volume} at the old {bridge.old_volume_rate}), longer than one "
                        f"pump bolus may last ({MAX_PUMP_BOLUS}); plan the change another way"
                    )
    checked: Review | None = None
    confirmation: Confirmation | None = None
    if rx is not None and (matches or not changed):
        checked = review_against_pump(rx, before, library, request.history)
        confirmation = checked.confirm(request.reasons)
        if not confirmation.confirmed:
            refusals.append(f"the new prescription is not confirmed: {confirmation.explain()}")
    awaiting = (
        len(refusals) == 1
        and confirmation is not None
        and not confirmation.refusals
        and bool(confirmation.missing_reasons)
    )
    return RefillPreview(
        expected, request.aspirated, request.aspirated - expected, capacity,
        request.new_volume, drug, concentration, changed, reconciliation, volume_refusals,
        checked, confirmation, bridge, refusals[0] if refusals else None, awaiting,
    )  # fmt: skip


def refill(
    link: Sender, request: RefillRequest, library: DrugLibrary | None = None
) -> RefillResult:
    """The refill workflow (see module docstring). Checks that need no pump change run
    first (`preview_refill`), so a refused preview changes nothing."""
    library = library or default_library()
    before = interrogate(link)
    plan = preview_refill(before, request, library)
    expected = plan.expected_remaining
    if plan.refusal is not None:
        return RefillResult(
            Outcome.NOT_SENT, plan.refusal, expected, review=plan.review, bridge=plan.bridge
        )
    drug, concentration = plan.drug, plan.concentration
    checked, bridge = plan.review, plan.bridge
    registered = _send(link, RegisterRefill(request.aspirated, request.new_volume, drug,
                                            concentration))  # fmt: skip
    if not registered.accepted:
        return RefillResult(
            Outcome.REFUSED_BY_PUMP,
            f"the pump refused the refill ({registered.reason}): {registered.message}",
            expected,
            review=checked,
        )
    reconciliation = registered.payload
    if not isinstance(reconciliation, RefillReconciliation):
        raise ProgrammerError("the pump's refill answer carries no reconciliation")
    causes = reconciliation.reconciliation.likely_causes
    written: ProgramResult | None = None
    if checked is not None:
        written = program(link, checked, request.reasons)
        if written.outcome is not Outcome.DONE:
            return RefillResult(
                written.outcome,
                f"refill registered, but the prescription was not written: {written.message}",
                expected, reconciliation, causes, checked, written, bridge,
            )  # fmt: skip
    bridged: CommandResult | None = None
    if bridge is not None:
        bridged = _send(link, BridgeBolus(bridge.volume, bridge.duration))
        if not bridged.accepted:
            return RefillResult(
                Outcome.REFUSED_BY_PUMP,
                "refill and prescription done, but the bridge bolus was refused: "
                + bridged.message,
                expected, reconciliation, causes, checked, written, bridge, bridged,
            )  # fmt: skip
    after = interrogate(link)
    projection = next_refill(after, library)
    when = projection.refill_by if projection is not None else None
    message = "refill registered"
    if reconciliation.flagged:
        message += "; DISCREPANCY flagged"
    if written is not None:
        message += "; prescription written and verified"
    if bridged is not None:
        message += f"; bridge bolus of {bridge.volume if bridge else ''} running"
    if when is not None:
        message += f"; refill by {when:%Y-%m-%d %H:%M}"
    return RefillResult(
        Outcome.DONE, message, expected, reconciliation, causes, checked, written, bridge,
        bridged, projection,
    )  # fmt: skip


# -- implant ---------------------------------------------------------------------


@dataclass(frozen=True)
class ImplantResult:
    outcome: Outcome
    message: str
    program: ProgramResult | None = None
    priming: PrimingPlan | None = None
    priming_result: CommandResult | None = None


def implant(
    link: Sender,
    prescription: Prescription,
    catheter: CatheterData,
    reasons: Mapping[Rule | str, str] | None = None,
    library: DrugLibrary | None = None,
) -> ImplantResult:
    """After implant: write the first prescription (reviewed and verified), then run the
    priming bolus computed from the catheter data; the pump starts the prescription
    when the priming bolus ends."""
    report = interrogate(link)
    checked = review_against_pump(prescription, report, library)
    written = program(link, checked, reasons or {})
    if written.outcome is not Outcome.DONE:
        return ImplantResult(written.outcome, f"not started: {written.message}", written)
    plan = priming_bolus(_pump_model(report), catheter)
    primed = _send(link, PrimingBolus(plan.volume, plan.duration))
    if not primed.accepted:
        return ImplantResult(
            Outcome.REFUSED_BY_PUMP,
            f"prescription written but the priming bolus was refused: {primed.message}",
            written, plan, primed,
        )  # fmt: skip
    return ImplantResult(
        Outcome.DONE,
        f"priming bolus of {plan.volume} over {plan.duration} running; therapy starts when it "
        "ends. " + " ".join(plan.warnings),
        written, plan, primed,
    )  # fmt: skip


# -- therapy control and checks ------------------------------------------------------


def stop(link: Sender) -> CommandResult:
    """Stop all delivery (until `resume`)."""
    return _send(link, Stop())


def minimum_rate(link: Sender) -> CommandResult:
    """Run at the pump model's minimum rate (keeps the catheter open)."""
    return _send(link, MinimumRate())


def resume(link: Sender) -> CommandResult:
    """Resume the stored prescription."""
    return _send(link, Resume())


def alarm_test(link: Sender) -> CommandResult:
    """Sound every alarm tone once so the patient knows them."""
    return _send(link, AlarmTest())


def post_mri_check(link: Sender) -> CommandResult:
    """After an MRI: confirm the motor runs and release a post-MRI hold."""
    return _send(link, PostMriCheck())


def reset_flow_valve(link: Sender) -> CommandResult:
    """Re-open a valve-accumulator pump's flow-activated valve after a strong field."""
    return _send(link, ResetFlowValve())


def set_alarm_settings(
    link: Sender, low_reservoir: Volume, critical_repeat: Duration
) -> CommandResult:
    return _send(link, SetAlarmSettings(low_reservoir, critical_repeat))


# -- battery ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReplacementPlan:
    """When the pump's battery reaches ERI and end of service, and when to operate."""

    battery: BatteryState
    level: str | None
    eri_at: datetime | None
    eos_at: datetime | None
    schedule_from: datetime | None
    urgent: bool
    message: str


def plan_replacement(report: InterrogationReport) -> ReplacementPlan:
    """ERI replacement planning from an interrogation. Before ERI the dates are projected
    from the measured charge and the programmed average volume rate; after ERI the pump's
    own end-of-service date is used. Replacement should be scheduled about six months
    before shut-off and must happen before it."""
    battery = report.battery
    now = report.local_time
    level = None if battery.level is None else f"{float(battery.level) * 100:.1f} %"
    if battery.state is BatteryState.NO_BATTERY:
        return ReplacementPlan(
            battery.state, None, None, None, None, False,
            "no battery: replacement is not driven by battery life",
        )  # fmt: skip
    if battery.state in (BatteryState.END_OF_SERVICE, BatteryState.LOW_BATTERY_RESET):
        return ReplacementPlan(
            battery.state, level, battery.eri_at, battery.eos_at, now, True,
            f"battery {battery.state.value}: the pump cannot sustain therapy; replace now",
        )  # fmt: skip
    eri_at, eos_at = battery.eri_at, battery.eos_at
    if battery.state is BatteryState.NORMAL:
        rx = report.prescription
        model = _pump_model(report)
        rate = VolumeRate.zero()
        if rx is not None:
            daily = programmed_daily_dose(rx, model.minimum_rate.value)
            rate = VolumeRate(daily.amount / rx.concentration.amount)
        projection = project_battery(
            report.model_id, now, rate, battery.level if battery.level is not None else Fraction(1)
        )
        eri_at, eos_at = projection.eri_at, projection.eos_at
    schedule_from = eos_at - REPLACEMENT_LEAD if eos_at is not None else None
    urgent = battery.state is BatteryState.ERI or (
        schedule_from is not None and schedule_from <= now
    )
    when = f"{eos_at:%Y-%m-%d}" if eos_at else "unknown"
    if battery.state is BatteryState.ERI:
        message = f"ERI reached: the pump stops at end of service on {when}; replace before then"
    elif urgent:
        message = f"end of service projected {when}: schedule the replacement now"
    else:
        start = f"{schedule_from:%Y-%m-%d}" if schedule_from else "?"
        message = f"end of service projected {when}; schedule the replacement from {start}"
    return ReplacementPlan(battery.state, level, eri_at, eos_at, schedule_from, urgent, message)


def replacement_plan(link: Sender) -> ReplacementPlan:
    return plan_replacement(interrogate(link))


# -- controllers -------------------------------------------------------------------


def enrol_controller(
    link: Sender,
    public_key: bytes,
    role: Role,
    label: str,
    expires_at: datetime | None = None,
) -> CommandResult:
    """Enrol a patient controller or another programmer by its public key, until
    `expires_at` (pump time; None: until revoked). This is also how a revoked key is
    admitted again."""
    return _send(link, EnrolController(public_key, role, label, expires_at))


def open_pairing(link: Sender, seconds: int) -> CommandResult:
    """Open the pump's pairing window for `seconds`: the implant card then pairs one
    patient controller (`thecal patient pair`)."""
    return _send(link, OpenPairing(seconds))


def trust_authority(
    link: Sender, public_key: bytes, label: str, roles: frozenset[Role]
) -> CommandResult:
    """Install another authority (e.g. the patient's new clinic) for `roles`."""
    return _send(link, TrustAuthority(public_key, label, roles))


def remove_authority(link: Sender, key_id: str) -> CommandResult:
    return _send(link, RemoveAuthority(key_id))


def security_digest(link: Sender, since: int = 0) -> SecurityDigest:
    """The pump's notable security records after sequence number `since` (one page),
    the lifetime count of every kind and the head of its hash chain."""
    response = link.call(ReadSecurityLog(since))
    if isinstance(response, Rejected) or not isinstance(response.payload, SecurityDigest):
        raise ProgrammerError(f"the pump refused to show its security log: {response.message}")
    return response.payload


def revoke_controller(link: Sender, key_id: str) -> CommandResult:
    """Revoke a lost or retired controller; its sessions end at once."""
    return _send(link, RevokeController(key_id))


def controllers(link: Sender) -> ControllerList:
    response = link.call(ListControllers())
    if isinstance(response, Rejected) or not isinstance(response.payload, ControllerList):
        raise ProgrammerError(f"the pump refused to list controllers: {response.message}")
    return response.payload
