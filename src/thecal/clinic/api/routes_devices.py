"""Routes for implants and what happens to them: prescriptions, refills, interrogations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import AwareDatetime

from thecal.clinic.api.deps import ActorDep, ClinicDep, Id
from thecal.clinic.api.errors import ERROR_RESPONSES
from thecal.clinic.interrogation import InterrogationDocument
from thecal.clinic.service import implants, interrogations, prescriptions, refills
from thecal.clinic.service.idempotency import KEY_PATTERN

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="Send the same key to retry a create safely: it is done once",
    ),
]


# --- implants --------------------------------------------------------------------------


@router.get(
    "/patients/{patient_id}/implants", response_model=list[implants.ImplantView], tags=["implants"]
)
def list_implants(patient_id: Id, clinic: ClinicDep, actor: ActorDep) -> list[implants.ImplantView]:
    with clinic.read(actor) as call:
        return implants.list_implants(call, patient_id)


@router.post(
    "/patients/{patient_id}/implants",
    response_model=implants.ImplantView,
    status_code=201,
    tags=["implants"],
)
def implant_pump(
    patient_id: Id, form: implants.ImplantForm, clinic: ClinicDep, actor: ActorDep
) -> implants.ImplantView:
    """Record an implanted pump and catheter (a replacement names the implant it replaces)."""
    return clinic.perform(actor, lambda call: implants.implant_pump(call, patient_id, form))


@router.get("/implants/{implant_id}", response_model=implants.ImplantView, tags=["implants"])
def get_implant(implant_id: Id, clinic: ClinicDep, actor: ActorDep) -> implants.ImplantView:
    with clinic.read(actor) as call:
        return implants.get_implant(call, implant_id)


@router.post(
    "/implants/{implant_id}/explant", response_model=implants.ImplantView, tags=["implants"]
)
def explant(
    implant_id: Id, form: implants.ExplantForm, clinic: ClinicDep, actor: ActorDep
) -> implants.ImplantView:
    return clinic.perform(actor, lambda call: implants.explant(call, implant_id, form))


# --- prescriptions ---------------------------------------------------------------------


@router.get(
    "/implants/{implant_id}/prescriptions",
    response_model=list[prescriptions.PrescriptionView],
    tags=["prescriptions"],
)
def list_prescriptions(
    implant_id: Id, clinic: ClinicDep, actor: ActorDep
) -> list[prescriptions.PrescriptionView]:
    """The prescription history with its safety verdicts and override reasons."""
    with clinic.read(actor) as call:
        return prescriptions.list_prescriptions(call, implant_id)


@router.post(
    "/implants/{implant_id}/prescriptions/evaluate",
    response_model=prescriptions.EvaluationView,
    tags=["prescriptions"],
)
def evaluate_prescription(
    implant_id: Id, form: prescriptions.EvaluateForm, clinic: ClinicDep, actor: ActorDep
) -> prescriptions.EvaluationView:
    """The safety verdicts for a proposed prescription; nothing is saved."""
    proposed = prescriptions.to_prescription(form.prescription)
    with clinic.read(actor) as call:
        return prescriptions.evaluate_prescription(
            call, implant_id, proposed, form.override_reasons
        )


@router.post(
    "/implants/{implant_id}/prescriptions",
    response_model=prescriptions.PrescriptionView,
    status_code=201,
    tags=["prescriptions"],
)
def prescribe(
    implant_id: Id, form: prescriptions.PrescribeForm, clinic: ClinicDep, actor: ActorDep
) -> prescriptions.PrescriptionView:
    """Save a prescription: refused by any hard limit, and every warning needs a reason."""
    order = form.order()
    return clinic.perform(actor, lambda call: prescriptions.prescribe(call, implant_id, order))


# --- refills ---------------------------------------------------------------------------


@router.get(
    "/implants/{implant_id}/refill-expectation",
    response_model=refills.ExpectationView | None,
    tags=["refills"],
)
def refill_expectation(
    implant_id: Id,
    clinic: ClinicDep,
    actor: ActorDep,
    at: AwareDatetime | None = None,
) -> refills.ExpectationView | None:
    """What a refill now (or `at`) should draw back out of the pump."""
    with clinic.read(actor) as call:
        return refills.refill_expectation(call, implant_id, at)


@router.get(
    "/implants/{implant_id}/refills", response_model=list[refills.RefillView], tags=["refills"]
)
def list_refills(implant_id: Id, clinic: ClinicDep, actor: ActorDep) -> list[refills.RefillView]:
    with clinic.read(actor) as call:
        return refills.list_refills(call, implant_id)


@router.post(
    "/implants/{implant_id}/refills",
    response_model=refills.RefillView,
    status_code=201,
    tags=["refills"],
)
def record_refill(
    implant_id: Id,
    form: refills.RefillForm,
    clinic: ClinicDep,
    actor: ActorDep,
    idempotency_key: IdempotencyKey = None,
) -> refills.RefillView:
    """Record a refill visit (idempotent with an `Idempotency-Key`); returns the
    reconciliation and the next refill date."""
    return clinic.perform(
        actor,
        lambda call: refills.record_refill(call, implant_id, form, idempotency_key),
        retry_conflict=idempotency_key is not None,
    )


# --- interrogations and alarms ----------------------------------------------------------


@router.get(
    "/implants/{implant_id}/interrogations",
    response_model=list[interrogations.InterrogationView],
    tags=["interrogations"],
)
def list_interrogations(
    implant_id: Id, clinic: ClinicDep, actor: ActorDep
) -> list[interrogations.InterrogationView]:
    with clinic.read(actor) as call:
        return interrogations.list_interrogations(call, implant_id)


@router.post(
    "/implants/{implant_id}/interrogations",
    response_model=interrogations.InterrogationView,
    status_code=201,
    tags=["interrogations"],
)
def import_interrogation(
    implant_id: Id, document: InterrogationDocument, clinic: ClinicDep, actor: ActorDep
) -> interrogations.InterrogationView:
    """Import what the programmer read from the pump (`thecal-interrogation/1`)."""
    return clinic.perform(
        actor, lambda call: interrogations.import_interrogation(call, implant_id, document)
    )


@router.post(
    "/implants/{implant_id}/interrogations/programmer",
    response_model=interrogations.InterrogationView,
    status_code=201,
    tags=["interrogations"],
)
def import_programmer_output(
    implant_id: Id, output: dict[str, Any], clinic: ClinicDep, actor: ActorDep
) -> interrogations.InterrogationView:
    """Import what `thecal programmer interrogate --json` printed, as it printed it."""
    return clinic.perform(
        actor, lambda call: interrogations.import_programmer_output(call, implant_id, output)
    )


@router.get(
    "/implants/{implant_id}/alarms",
    response_model=list[interrogations.AlarmView],
    tags=["interrogations"],
)
def list_alarms(
    implant_id: Id,
    clinic: ClinicDep,
    actor: ActorDep,
    active: Annotated[bool, Query(description="Only alarms the pump still reports")] = False,
) -> list[interrogations.AlarmView]:
    with clinic.read(actor) as call:
        return interrogations.list_alarms(call, implant_id, active)


@router.post(
    "/alarms/{alarm_id}/acknowledge",
    response_model=interrogations.AlarmView,
    tags=["interrogations"],
)
def acknowledge_alarm(
    alarm_id: Id, form: interrogations.AcknowledgeForm, clinic: ClinicDep, actor: ActorDep
) -> interrogations.AlarmView:
    return clinic.perform(
        actor, lambda call: interrogations.acknowledge_alarm(call, alarm_id, form)
    )
