"""Demo clinic: realistic patients for every diagnosis family, pumps of every model, the
example prescriptions, years of refills and pain scores, and the situations a clinic must
catch (an overdue baclofen refill, a refill discrepancy, a pump near and a pump at ERI).

Everything is entered through the service, as a clinic would enter it, with the clinic
clock set to the time each event happened: the safety evaluator judges every
prescription, every refill is reconciled, and the audit chain records it all.

The demo user accounts (printed by ``thecal clinic seed-demo``) have demo passwords: a demo
database is for demonstration only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from thecal.clinic.access import Actor, Role
from thecal.clinic.anatomy import body_map
from thecal.clinic.candidacy import PsychEvaluation, TrialMethod
from thecal.clinic.diagnoses import Diagnosis, DiagnosisFamily, family_of
from thecal.clinic.errors import Conflict
from thecal.clinic.interrogation import InterrogationDocument
from thecal.clinic.service import (
    appointments,
    assessments,
    candidacy,
    implants,
    interrogations,
    patients,
    prescriptions,
    refills,
    users,
)
from thecal.clinic.service.core import Clinic, FixedClock
from thecal.clinic.storage.models import AppointmentKind, Patient, Sex
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.prescription_toml import read_prescription
from thecal.therapy.pump_models import find_pump_model
from thecal.therapy.quantities import decimal_text
from thecal.therapy.safety import Rule
from thecal.therapy.units import format_quantity

__all__ = ["DEMO_NOTES", "DEMO_PASSWORDS", "DemoSummary", "default_examples_dir", "seed_demo"]

DEMO_PASSWORDS = {
    "admin": ("administrator", "demo-admin-password"),
    "dr.hale": ("clinician", "demo-clinician-password"),
    "nurse.okafor": ("nurse", "demo-nurse-password"),
    "pharm.lind": ("pharmacist", "demo-pharmacist-password"),
    "pat.moreau": ("patient", "demo-patient-password"),
}

DEMO_NOTES = (
    "Henrik Larsen's baclofen refill is overdue (high risk: escalations planned)",
    "Amira Haddad's last refill returned far less than expected (discrepancy)",
    "Daniel Fischer's pump nears its replacement date; Owen Price's pump reports ERI",
    "Sofia Rossi has a constant-flow pump (fixed 1 mL/day)",
    "Nadia Petrova is a candidate: screened and trialled, not yet implanted",
)
"""The situations the demo clinic is seeded with, for the newcomer to find."""


def default_examples_dir() -> Path | None:
    """The repository's `examples/` directory, when thecal runs from a checkout."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "examples"
        if (candidate / "baclofen-flex-spasticity.toml").is_file():
            return candidate
    return None


@dataclass(frozen=True)
class _Case:
    diagnosis: Diagnosis
    given: str
    family: str
    sex: str
    born: date
    weight: str
    pump: str
    example: str
    months: int
    """How long ago the pump went in."""
    story: str = ""
    risk_factors: tuple[str, ...] = ()


_CASES = (
    _Case(Diagnosis.CANCER_PAIN, "Colette", "Moreau", "female", date(1958, 4, 2), "61",
          "peristaltic-20", "morphine-cancer-pain-ptm.toml", 7, "interrogated"),
    _Case(Diagnosis.FAILED_BACK_SURGERY_SYNDROME, "Tomasz", "Nowak", "male", date(1966, 9, 14),
          "88.5", "valve-accumulator-20", "checks/morphine-current.toml", 26),
    _Case(Diagnosis.CHRONIC_PANCREATITIS, "Amira", "Haddad", "female", date(1979, 1, 23), "57",
          "peristaltic-40", "morphine-cancer-pain-ptm.toml", 15, "discrepancy"),
    _Case(Diagnosis.CRPS, "Liam", "O'Connor", "male", date(1985, 6, 30), "79",
          "peristaltic-20", "ziconotide-titration-start.toml", 9),
    _Case(Diagnosis.CAUSALGIA, "Mei", "Tanaka", "female", date(1972, 11, 5), "54",
          "valve-accumulator-40", "checks/morphine-current.toml", 31),
    _Case(Diagnosis.ARACHNOIDITIS, "Ruth", "Abebe", "female", date(1961, 3, 17), "66",
          "peristaltic-40", "checks/hydromorphone-off-label.toml", 12),
    _Case(Diagnosis.SPASTICITY_STROKE, "Henrik", "Larsen", "male", date(1955, 8, 8), "82",
          "peristaltic-40", "baclofen-flex-spasticity.toml", 20, "overdue",
          ("communication_difficulties",)),
    _Case(Diagnosis.SPASTICITY_CEREBRAL_PALSY, "Sofia", "Rossi", "female", date(2001, 2, 11),
          "48", "constant-flow-30", "baclofen-flex-spasticity.toml", 18, "constant-flow"),
    _Case(Diagnosis.SPASTICITY_MULTIPLE_SCLEROSIS, "Daniel", "Fischer", "male", date(1970, 12, 1),
          "74", "peristaltic-40", "baclofen-flex-spasticity.toml", 58, "near-eri"),
    _Case(Diagnosis.SPASTICITY_SPINAL_CORD_INJURY, "Grace", "Mensah", "female",
          date(1990, 7, 19), "63", "valve-accumulator-40", "baclofen-flex-spasticity.toml", 24,
          "", ("spinal_cord_injury_t6_or_above", "prior_withdrawal")),
    _Case(Diagnosis.SPASTICITY_BRAIN_INJURY, "Owen", "Price", "male", date(1982, 5, 27), "91",
          "peristaltic-40", "baclofen-flex-spasticity.toml", 62, "at-eri"),
)  # fmt: skip

_REGION_WORDS: dict[Diagnosis, tuple[str, ...]] = {
    Diagnosis.CANCER_PAIN: ("abdomen", "chest"),
    Diagnosis.FAILED_BACK_SURGERY_SYNDROME: ("low back", "lower back", "thigh"),
    Diagnosis.CHRONIC_PANCREATITIS: ("abdomen", "upper"),
    Diagnosis.CRPS: ("foot", "leg"),
    Diagnosis.CAUSALGIA: ("hand", "arm"),
    Diagnosis.ARACHNOIDITIS: ("buttock", "leg", "back"),
}


@dataclass
class DemoSummary:
    patients: int = 0
    implants: int = 0
    prescriptions: int = 0
    refills: int = 0
    pain_assessments: int = 0
    interrogations: int = 0
    appointments: int = 0
    users: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "patients": self.patients,
            "implants": self.implants,
            "prescriptions": self.prescriptions,
            "refills": self.refills,
            "pain_assessments": self.pain_assessments,
            "interrogations": self.interrogations,
            "appointments": self.appointments,
            "users": self.users,
            "notes": self.notes,
        }

    def describe(self) -> str:
        lines = [
            f"demo clinic: {self.patients} patients, {self.implants} implants, "
            f"{self.prescriptions} prescriptions, {self.refills} refills, "
            f"{self.pain_assessments} pain assessments, {self.interrogations} interrogations, "
            f"{self.appointments} appointments",
            "demo sign-ins (demo passwords; never use a demo database for real patients):",
        ]
        lines += [f"  {name:14} {password}" for name, password in self.users.items()]
        lines += [f"  - {note}" for note in self.notes]
        return "\n".join(lines)


class _Seeder:
    def __init__(self, clinic: Clinic, examples: Path, rng: random.Random, now: datetime) -> None:
        self.now = now
        self.clock = FixedClock(now)
        self.clinic = Clinic(clinic.database, clinic.settings, self.clock)
        self.examples = examples
        self.rng = rng
        self.summary = DemoSummary()
        self.actor = Actor.system("demo seed")
        self.regions = body_map()

    def at(self, moment: datetime) -> None:
        self.clock.set(min(moment, self.now))

    def daytime(self, day: datetime) -> datetime:
        """A plausible clinic time on that day (09:00-15:59)."""
        local = day.astimezone(self.clinic.tz).date()
        minutes = self.rng.randrange(9 * 60, 16 * 60)
        moment = datetime.combine(local, time(minutes // 60, minutes % 60), self.clinic.tz)
        return moment.astimezone(UTC)

    def write(self, operation: Any) -> Any:
        return self.clinic.perform(self.actor, operation)

    def read(self, operation: Any) -> Any:
        with self.clinic.read(self.actor) as call:
            return operation(call)

    # --- building blocks -------------------------------------------------------------

    def syringe(self, text: str, noise: bool = True) -> str:
        """A volume as read on a syringe: to 0.1 mL, a little off the expected value."""
        number = Fraction(Decimal(text.removeprefix("≈").strip().split(" ")[0]))
        tenths = int(number * 10) + (self.rng.randint(-2, 2) if noise else 0)
        return f"{decimal_text(Fraction(max(tenths, 0), 10), 1)} mL"

    def region_ids(self, diagnosis: Diagnosis) -> list[str]:
        if not self.regions:
            return []
        words = _REGION_WORDS.get(diagnosis, ())
        chosen = [r.id for r in self.regions if any(w in r.label.lower() for w in words)]
        if not chosen:
            chosen = [self.rng.choice(self.regions).id]
        return chosen[:3]

    def pain(self, patient_id: int, case: _Case, when: datetime, before_implant: bool) -> None:
        spastic = family_of(case.diagnosis) is DiagnosisFamily.SPASTICITY
        if spastic:
            grade = self.rng.choice(("3", "4") if before_implant else ("1", "1+", "2"))
            form = assessments.PainAssessmentForm.model_validate(
                {"assessed_at": when, "ashworth": grade}
            )
        else:
            score = self.rng.randint(7, 9) if before_implant else self.rng.randint(2, 5)
            form = assessments.PainAssessmentForm(
                assessed_at=when, score=score, regions=self.region_ids(case.diagnosis)
            )
        self.at(when)
        self.write(lambda call: assessments.record_pain_assessment(call, patient_id, form))
        self.summary.pain_assessments += 1

    def prescription(self, case: _Case) -> Prescription:
        rx = read_prescription(self.examples / case.example)
        pump = find_pump_model(case.pump)
        if not pump.programmable:
            # A constant-flow pump delivers its fixed flow: the dose follows from the
            # concentration of the example's drug.
            rate = pump.minimum_rate.value.to_dose_rate(rx.concentration)
            return Prescription(rx.drug, rx.concentration, Mode.SIMPLE_CONTINUOUS, rate=rate)
        return rx

    def prescribe(self, implant_id: int, rx: Prescription) -> None:
        evaluation = self.read(
            lambda call: prescriptions.evaluate_prescription(call, implant_id, rx)
        )
        reasons = {
            Rule(rule): "demo: reviewed and accepted by the demo clinician"
            for rule in evaluation.needs_reason
        }
        order = prescriptions.PrescriptionOrder(rx, reasons)
        self.write(lambda call: prescriptions.prescribe(call, implant_id, order))
        self.summary.prescriptions += 1

    # --- one patient's story -----------------------------------------------------------

    def patient(self, index: int, case: _Case) -> int:
        implanted = self.daytime(self.now - timedelta(days=30 * case.months))
        registered = implanted - timedelta(days=120)
        self.at(registered)
        form = patients.PatientForm.model_validate(
            {
                "mrn": f"DEMO-{index + 1:04d}",
                "given_name": case.given,
                "family_name": case.family,
                "birth_date": case.born,
                "sex": case.sex,
                "weight_kg": case.weight,
                "diagnosis": case.diagnosis,
                "withdrawal_risk_factors": list(case.risk_factors),
            }
        )
        patient = self.write(lambda call: patients.create_patient(call, form))
        self.summary.patients += 1
        self.pain(patient.id, case, registered, before_implant=True)
        self.screen_and_trial(patient.id, case, implanted)
        implant_id = self.implant(patient.id, case, implanted)
        self.refills(patient.id, implant_id, case, implanted)
        return int(patient.id)

    def screen_and_trial(self, patient_id: int, case: _Case, implanted: datetime) -> None:
        self.at(implanted - timedelta(days=90))
        screening = candidacy.ScreeningForm(
            conservative_therapies_tried=True,
            no_other_surgical_option=True,
            no_untreated_addiction=True,
            no_infection=True,
            body_size_adequate=True,
            implant_depth_adequate=True,
            psychological_evaluation=PsychEvaluation.FAVOURABLE,
        )
        self.write(lambda call: candidacy.record_screening(call, patient_id, screening))
        self.at(implanted - timedelta(days=60))
        if family_of(case.diagnosis) is DiagnosisFamily.SPASTICITY:
            trial = candidacy.TrialForm(
                method=TrialMethod.SINGLE_SHOT, drug="baclofen", dose="50 mcg",
                baseline_ashworth="4", post_ashworth="1+",
            )  # fmt: skip
        else:
            rx = read_prescription(self.examples / case.example)
            dose = "2.4 mcg/day" if rx.drug == "ziconotide" else "1 mg/day"
            trial = candidacy.TrialForm(
                method=TrialMethod.CATHETER_INFUSION, drug=rx.drug, dose=dose,
                baseline_pain=8, post_pain=3,
            )  # fmt: skip
        self.write(lambda call: candidacy.record_trial(call, patient_id, trial))

    def implant(self, patient_id: int, case: _Case, implanted: datetime) -> int:
        self.at(implanted)
        pump = find_pump_model(case.pump)
        catheter = "prometra-110" if case.pump.startswith("valve") else "generic-two-piece"
        tip = "T10" if family_of(case.diagnosis) is DiagnosisFamily.SPASTICITY else "T8"
        form = implants.ImplantForm(
            pump_model=case.pump,
            serial=f"{case.pump.split('-')[0][:3].upper()}{pump.reservoir.value.ml}-"
            f"{self.rng.randrange(100000, 999999)}",
            implanted_at=implanted,
            catheter_model=catheter,
            catheter_trimmed_length_cm=str(self.rng.randrange(55, 80)),
            catheter_tip_level=tip,
        )
        implant = self.write(lambda call: implants.implant_pump(call, patient_id, form))
        self.summary.implants += 1
        self.prescribe(implant.id, self.prescription(case))
        return int(implant.id)

    def fill(
        self,
        implant_id: int,
        case: _Case,
        when: datetime,
        aspirated: str | None,
        volume: str,
    ) -> refills.RefillView:
        rx = read_prescription(self.examples / case.example)
        form = refills.RefillForm(
            performed_at=when,
            aspirated_volume=aspirated,
            drug=rx.drug,
            concentration=format_quantity(rx.concentration),
            lot=f"LOT-{self.rng.randrange(10000, 99999)}",
            volume_added=volume,
        )
        self.at(when)
        view = self.write(lambda call: refills.record_refill(call, implant_id, form))
        self.summary.refills += 1
        return view  # type: ignore[no-any-return]

    def refills(self, patient_id: int, implant_id: int, case: _Case, implanted: datetime) -> None:
        volume = format_quantity(find_pump_model(case.pump).reservoir.value)
        last = self.fill(implant_id, case, implanted, None, volume)
        next_pain = implanted + timedelta(days=30)
        while last.next_refill_due is not None:
            when = self.daytime(last.next_refill_due - timedelta(days=self.rng.randint(1, 4)))
            interval = last.next_refill_due - last.performed_at
            while next_pain < min(when, self.now):
                self.pain(patient_id, case, self.daytime(next_pain), before_implant=False)
                next_pain += timedelta(days=self.rng.randint(25, 40))
            if when >= self.now:
                break
            if case.story == "overdue" and when + interval >= self.now - timedelta(days=6):
                # The patient came once more, early, and then missed the next visit: the
                # refill is now a few days overdue.
                early = self.daytime(self.now - interval - timedelta(days=4))
                if last.performed_at + timedelta(days=2) < early < when:
                    expected = self.read(
                        lambda call, at=early: refills.refill_expectation(call, implant_id, at)
                    )
                    aspirated = self.syringe(expected.expected) if expected else None
                    last = self.fill(implant_id, case, early, aspirated, volume)
                break
            expected = self.read(
                lambda call, when=when: refills.refill_expectation(call, implant_id, when)
            )
            aspirated = self.syringe(expected.expected) if expected else None
            if case.story == "discrepancy" and when + interval >= self.now:
                aspirated = "1 mL"  # the last refill: far less came back than expected
            last = self.fill(implant_id, case, when, aspirated, volume)
        if case.story in ("interrogated", "at-eri", "near-eri"):
            self.interrogate(implant_id, case)
        self.book_next(patient_id, implant_id, case)

    def interrogate(self, implant_id: int, case: _Case) -> None:
        implant = self.read(lambda call: implants.get_implant(call, implant_id))
        when = self.daytime(self.now - timedelta(days=2))
        if when > self.now:
            when = self.now - timedelta(hours=1)
        expected = self.read(lambda call: refills.refill_expectation(call, implant_id, when))
        rx = self.read(lambda call: prescriptions.current_prescription(call, implant_id))
        alarms: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        battery = {"state": "normal"}
        if case.story == "at-eri":
            battery = {"state": "eri"}
            alarms.append(
                {
                    "kind": "elective_replacement_indicator",
                    "priority": "non_critical",
                    "raised_at": (when - timedelta(days=3)).isoformat(),
                    "active": True,
                }
            )
        if case.story == "interrogated":
            for day in range(1, 4):
                events.append(
                    {
                        "seq": 100 + day,
                        "at": (when - timedelta(days=day, hours=3)).isoformat(),
                        "kind": "patient_bolus",
                        "detail": {"dose": "200 mcg"},
                    }
                )
        document = InterrogationDocument.model_validate(
            {
                "format": "thecal-interrogation/1",
                "interrogated_at": when.isoformat(),
                "pump": {"model": implant.pump_model, "serial": implant.serial},
                "status": {
                    "mode": rx.mode.value if rx else "stopped",
                    "delivering": True,
                    "reservoir_estimate": self.syringe(expected.expected, noise=False)
                    if expected
                    else "0 mL",
                    "prescription_hash": rx.content_hash if rx else None,
                    "battery": battery,
                },
                "alarms": alarms,
                "event_log": events,
            }
        )
        self.at(when)
        self.write(lambda call: interrogations.import_interrogation(call, implant_id, document))
        self.summary.interrogations += 1

    def book_next(self, patient_id: int, implant_id: int, case: _Case) -> None:
        implant = self.read(lambda call: implants.get_implant(call, implant_id))
        due = implant.schedule.next_refill_due
        if due is None or due <= self.now or case.story == "overdue":
            return
        starts = self.daytime(max(due - timedelta(days=2), self.now + timedelta(days=1)))
        if starts > due:
            starts = due
        form = appointments.AppointmentForm(kind=AppointmentKind.REFILL, starts_at=starts)
        self.at(self.now)
        self.write(lambda call: appointments.book_appointment(call, patient_id, form))
        self.summary.appointments += 1


def seed_demo(
    clinic: Clinic, examples: Path, seed: int = 7, now: datetime | None = None
) -> DemoSummary:
    """Fill an empty clinic database with the demo clinic; `Conflict` if it has patients."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    with clinic.read(Actor.system("demo seed")) as call:
        if call.session.scalar(select(func.count()).select_from(Patient)):
            raise Conflict("the database already has patients; seed the demo into an empty one")
    seeder = _Seeder(clinic, examples, random.Random(seed), moment)
    ids = [seeder.patient(index, case) for index, case in enumerate(_CASES)]
    # A candidate still in work-up: screened and trialled, not yet implanted.
    seeder.at(moment - timedelta(days=20))
    candidate = seeder.write(
        lambda call: patients.create_patient(
            call,
            patients.PatientForm(
                mrn=f"DEMO-{len(_CASES) + 1:04d}", given_name="Nadia", family_name="Petrova",
                birth_date=date(1968, 10, 9), sex=Sex.FEMALE, weight_kg="70",
                diagnosis=Diagnosis.CANCER_PAIN,
            ),
        )
    )  # fmt: skip
    seeder.summary.patients += 1
    seeder.pain(candidate.id, _CASES[0], moment - timedelta(days=20), before_implant=True)
    seeder.screen_and_trial(candidate.id, _CASES[0], moment + timedelta(days=55))
    seeder.at(moment)
    for username, (role, password) in DEMO_PASSWORDS.items():
        form = users.UserForm(
            username=username,
            display_name=username,
            role=Role(role),
            password=password,
            patient_id=ids[0] if role == "patient" else None,
        )
        seeder.write(lambda call, form=form: users.create_user(call, form))
        seeder.summary.users[username] = password
    seeder.summary.notes += DEMO_NOTES
    return seeder.summary
