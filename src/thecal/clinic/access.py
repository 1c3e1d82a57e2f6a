"""Who may do what: the one table of roles and permissions.

Staff roles act on every patient within their permissions. A patient acts only on their
own record, and only with the few permissions a patient has. The service checks these
on every operation (so the JSON API and the web pages enforce the same rules); a denied
check raises `Forbidden`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from thecal.clinic.errors import Forbidden

__all__ = [
    "PUMP_ACTION_PERMISSIONS",
    "ROLE_PERMISSIONS",
    "Actor",
    "Permission",
    "PumpAction",
    "Role",
    "authorize",
    "can",
]


class Role(StrEnum):
    CLINICIAN = "clinician"
    NURSE = "nurse"
    PHARMACIST = "pharmacist"
    ADMINISTRATOR = "administrator"
    PATIENT = "patient"


class Permission(StrEnum):
    PATIENT_READ = "patient.read"
    PATIENT_WRITE = "patient.write"
    PAIN_ASSESSMENT_WRITE = "pain_assessment.write"
    SCREENING_WRITE = "screening.write"
    TRIAL_WRITE = "trial.write"
    IMPLANT_WRITE = "implant.write"
    PRESCRIBE = "prescription.write"
    REFILL_WRITE = "refill.write"
    INTERROGATION_IMPORT = "interrogation.import"
    ALARM_ACKNOWLEDGE = "alarm.acknowledge"
    APPOINTMENT_WRITE = "appointment.write"
    FHIR_EXPORT = "fhir.export"
    WORKLIST_READ = "worklist.read"
    USER_ADMIN = "user.admin"
    AUDIT_READ = "audit.read"


_CLINICAL_READ = {Permission.PATIENT_READ, Permission.WORKLIST_READ, Permission.FHIR_EXPORT}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CLINICIAN: frozenset(
        _CLINICAL_READ
        | {
            Permission.PATIENT_WRITE,
            Permission.PAIN_ASSESSMENT_WRITE,
            Permission.SCREENING_WRITE,
            Permission.TRIAL_WRITE,
            Permission.IMPLANT_WRITE,
            Permission.PRESCRIBE,
            Permission.REFILL_WRITE,
            Permission.INTERROGATION_IMPORT,
            Permission.ALARM_ACKNOWLEDGE,
            Permission.APPOINTMENT_WRITE,
        }
    ),
    Role.NURSE: frozenset(
        _CLINICAL_READ
        | {
            Permission.PATIENT_WRITE,
            Permission.PAIN_ASSESSMENT_WRITE,
            Permission.REFILL_WRITE,
            Permission.INTERROGATION_IMPORT,
            Permission.ALARM_ACKNOWLEDGE,
            Permission.APPOINTMENT_WRITE,
        }
    ),
    Role.PHARMACIST: frozenset(_CLINICAL_READ),
    Role.ADMINISTRATOR: frozenset({Permission.USER_ADMIN, Permission.AUDIT_READ}),
    # A patient's permissions apply to their own record only (see `authorize`).
    Role.PATIENT: frozenset(
        {Permission.PATIENT_READ, Permission.PAIN_ASSESSMENT_WRITE, Permission.FHIR_EXPORT}
    ),
}


class PumpAction(StrEnum):
    """What a clinician programmer does to a pump over the telemetry link."""

    PAIR = "pair"
    INTERROGATE = "interrogate"
    ALARM_TEST = "alarm_test"
    REFILL = "refill"
    PROGRAM = "program"
    STOP = "stop"
    RESUME = "resume"


PUMP_ACTION_PERMISSIONS: dict[PumpAction, Permission] = {
    # Reading the pump (and pairing to read it, and sounding its alarm tones so the
    # patient knows them) is what importing an interrogation needs.
    PumpAction.PAIR: Permission.INTERROGATION_IMPORT,
    PumpAction.INTERROGATE: Permission.INTERROGATION_IMPORT,
    PumpAction.ALARM_TEST: Permission.INTERROGATION_IMPORT,
    PumpAction.REFILL: Permission.REFILL_WRITE,
    # Anything that changes what the pump delivers is a prescriber's decision: a refill
    # that writes a prescription (a new drug or concentration) needs this one too.
    PumpAction.PROGRAM: Permission.PRESCRIBE,
    PumpAction.STOP: Permission.PRESCRIBE,
    PumpAction.RESUME: Permission.PRESCRIBE,
}
"""The permission each pump action needs: the same as the clinic record it corresponds to."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, or the system itself (migrations, worker, demo seed)."""

    user_id: int | None
    username: str
    role: Role | None
    patient_id: int | None = None

    @property
    def is_system(self) -> bool:
        return self.role is None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        """The service acting on its own behalf (worker, seed, command line): all permissions."""
        return cls(None, name, None)


def can(actor: Actor, permission: Permission, patient_id: int | None = None) -> bool:
    """Whether `actor` holds `permission` (for `patient_id`, when the action concerns one)."""
    if actor.role is None:
        return True
    if permission not in ROLE_PERMISSIONS[actor.role]:
        return False
    if actor.role is Role.PATIENT:
        return patient_id is not None and patient_id == actor.patient_id
    return True


def authorize(actor: Actor, permission: Permission, patient_id: int | None = None) -> None:
    """Raise `Forbidden` unless `actor` may use `permission` (on `patient_id`)."""
    if not can(actor, permission, patient_id):
        role = actor.role.value if actor.role else "system"
        if actor.role is Role.PATIENT and permission in ROLE_PERMISSIONS[Role.PATIENT]:
            raise Forbidden("a patient may only see and change their own record")
        raise Forbidden(f"the {role} role may not do this ({permission.value})")
