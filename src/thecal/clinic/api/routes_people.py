"""Routes for sign-in, users, patients and what is recorded about them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from thecal.clinic import fhir
from thecal.clinic.access import Actor
from thecal.clinic.api.deps import ActorDep, ClinicDep, Id, bearer, token_of
from thecal.clinic.api.errors import ERROR_RESPONSES
from thecal.clinic.service import (
    appointments,
    assessments,
    candidacy,
    patient_page,
    patients,
    users,
)
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


class LoginForm(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)


class Done(BaseModel):
    ok: bool = True


# --- sign-in ---------------------------------------------------------------------------


@router.post("/auth/login", response_model=users.SignedIn, tags=["auth"])
def login(form: LoginForm, clinic: ClinicDep) -> users.SignedIn:
    """Sign in; the token goes in `Authorization: Bearer <token>` on every other call."""
    outcome = clinic.perform(
        Actor.system("auth"), lambda call: users.sign_in(call, form.username, form.password)
    )
    if isinstance(outcome, users.SignInRefused):
        raise outcome.as_error()
    return outcome


@router.post("/auth/logout", response_model=Done, tags=["auth"])
def logout(
    request: Request,
    clinic: ClinicDep,
    actor: ActorDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Done:
    """End this session: its token stops working at once."""
    token = token_of(request, credentials)
    if token:
        clinic.perform(actor, lambda call: users.sign_out(call, token))
    return Done()


@router.get("/auth/me", response_model=users.UserView, tags=["auth"])
def me(clinic: ClinicDep, actor: ActorDep) -> users.UserView:
    """The signed-in user."""
    with clinic.read(actor) as call:
        return users.whoami(call)


# --- users -----------------------------------------------------------------------------


@router.get("/users", response_model=list[users.UserView], tags=["users"])
def list_users(clinic: ClinicDep, actor: ActorDep) -> list[users.UserView]:
    with clinic.read(actor) as call:
        return users.list_users(call)


@router.post("/users", response_model=users.UserView, status_code=201, tags=["users"])
def create_user(form: users.UserForm, clinic: ClinicDep, actor: ActorDep) -> users.UserView:
    return clinic.perform(actor, lambda call: users.create_user(call, form))


@router.patch("/users/{user_id}", response_model=users.UserView, tags=["users"])
def update_user(
    user_id: Id, form: users.UserUpdate, clinic: ClinicDep, actor: ActorDep
) -> users.UserView:
    return clinic.perform(actor, lambda call: users.update_user(call, user_id, form))


# --- patients --------------------------------------------------------------------------


@router.get("/patients", response_model=patients.PatientList, tags=["patients"])
def list_patients(
    clinic: ClinicDep,
    actor: ActorDep,
    q: Annotated[str, Query(max_length=100, pattern=r"^[^\x00]*$")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> patients.PatientList:
    """Patients by family name; `q` matches the start of a name or MRN."""
    with clinic.read(actor) as call:
        return patients.list_patients(call, q, limit, offset)


@router.post("/patients", response_model=patients.PatientView, status_code=201, tags=["patients"])
def create_patient(
    form: patients.PatientForm, clinic: ClinicDep, actor: ActorDep
) -> patients.PatientView:
    return clinic.perform(actor, lambda call: patients.create_patient(call, form))


@router.get("/patients/{patient_id}", response_model=patients.PatientView, tags=["patients"])
def get_patient(patient_id: Id, clinic: ClinicDep, actor: ActorDep) -> patients.PatientView:
    with clinic.read(actor) as call:
        return patients.get_patient(call, patient_id)


@router.patch("/patients/{patient_id}", response_model=patients.PatientView, tags=["patients"])
def update_patient(
    patient_id: Id, form: patients.PatientUpdate, clinic: ClinicDep, actor: ActorDep
) -> patients.PatientView:
    """Change details; send the `version` you read (409 if someone changed it meanwhile)."""
    return clinic.perform(actor, lambda call: patients.update_patient(call, patient_id, form))


@router.get(
    "/patients/{patient_id}/page", response_model=patient_page.PatientPage, tags=["patients"]
)
def get_patient_page(
    patient_id: Id,
    clinic: ClinicDep,
    actor: ActorDep,
    recent: Annotated[int, Query(ge=1, le=200)] = 20,
) -> patient_page.PatientPage:
    """Everything the patient page shows, in one call."""
    with clinic.read(actor) as call:
        return patient_page.patient_page(call, patient_id, recent)


@router.get("/patients/{patient_id}/fhir", tags=["patients"])
def export_fhir(patient_id: Id, clinic: ClinicDep, actor: ActorDep) -> dict[str, Any]:
    """The patient's record as a FHIR R4 collection Bundle."""
    with clinic.read(actor) as call:
        return fhir.export_patient(call, patient_id)


# --- pain, candidacy, trials -----------------------------------------------------------


@router.get(
    "/patients/{patient_id}/pain-assessments",
    response_model=list[assessments.PainAssessmentView],
    tags=["assessment"],
)
def list_pain(
    patient_id: Id,
    clinic: ClinicDep,
    actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[assessments.PainAssessmentView]:
    with clinic.read(actor) as call:
        return assessments.list_pain_assessments(call, patient_id, limit)


@router.post(
    "/patients/{patient_id}/pain-assessments",
    response_model=assessments.PainAssessmentView,
    status_code=201,
    tags=["assessment"],
)
def record_pain(
    patient_id: Id, form: assessments.PainAssessmentForm, clinic: ClinicDep, actor: ActorDep
) -> assessments.PainAssessmentView:
    """A pain score and the body regions that hurt (a patient may record their own)."""
    return clinic.perform(
        actor, lambda call: assessments.record_pain_assessment(call, patient_id, form)
    )


@router.get(
    "/patients/{patient_id}/screenings",
    response_model=list[candidacy.ScreeningView],
    tags=["assessment"],
)
def list_screenings(
    patient_id: Id, clinic: ClinicDep, actor: ActorDep
) -> list[candidacy.ScreeningView]:
    with clinic.read(actor) as call:
        return candidacy.list_screenings(call, patient_id)


@router.post(
    "/patients/{patient_id}/screenings",
    response_model=candidacy.ScreeningView,
    status_code=201,
    tags=["assessment"],
)
def record_screening(
    patient_id: Id, form: candidacy.ScreeningForm, clinic: ClinicDep, actor: ActorDep
) -> candidacy.ScreeningView:
    return clinic.perform(actor, lambda call: candidacy.record_screening(call, patient_id, form))


@router.get(
    "/patients/{patient_id}/trials", response_model=list[candidacy.TrialView], tags=["assessment"]
)
def list_trials(patient_id: Id, clinic: ClinicDep, actor: ActorDep) -> list[candidacy.TrialView]:
    with clinic.read(actor) as call:
        return candidacy.list_trials(call, patient_id)


@router.post(
    "/patients/{patient_id}/trials",
    response_model=candidacy.TrialView,
    status_code=201,
    tags=["assessment"],
)
def record_trial(
    patient_id: Id, form: candidacy.TrialForm, clinic: ClinicDep, actor: ActorDep
) -> candidacy.TrialView:
    return clinic.perform(actor, lambda call: candidacy.record_trial(call, patient_id, form))


# --- appointments ----------------------------------------------------------------------


@router.get(
    "/patients/{patient_id}/appointments",
    response_model=list[appointments.AppointmentView],
    tags=["appointments"],
)
def list_appointments(
    patient_id: Id,
    clinic: ClinicDep,
    actor: ActorDep,
    upcoming: bool = False,
) -> list[appointments.AppointmentView]:
    with clinic.read(actor) as call:
        return appointments.list_appointments(call, patient_id, upcoming)


@router.post(
    "/patients/{patient_id}/appointments",
    response_model=appointments.AppointmentView,
    status_code=201,
    tags=["appointments"],
)
def book_appointment(
    patient_id: Id,
    form: appointments.AppointmentForm,
    clinic: ClinicDep,
    actor: ActorDep,
    idempotency_key: IdempotencyKey = None,
) -> appointments.AppointmentView:
    """Book a visit (idempotent with an `Idempotency-Key`)."""
    return clinic.perform(
        actor,
        lambda call: appointments.book_appointment(call, patient_id, form, idempotency_key),
        retry_conflict=idempotency_key is not None,
    )


@router.patch(
    "/appointments/{appointment_id}",
    response_model=appointments.AppointmentView,
    tags=["appointments"],
)
def update_appointment(
    appointment_id: Id, form: appointments.AppointmentUpdate, clinic: ClinicDep, actor: ActorDep
) -> appointments.AppointmentView:
    """Reschedule, cancel or close; send the `version` you read."""
    return clinic.perform(
        actor, lambda call: appointments.update_appointment(call, appointment_id, form)
    )
