"""Who may do what to a pump over the link: the pump actions map onto the clinic's own
permissions (reading a pump = importing an interrogation; changing delivery = prescribing)."""

from __future__ import annotations

import pytest

from thecal.clinic.access import PUMP_ACTION_PERMISSIONS, Actor, PumpAction, Role, can


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.CLINICIAN, set(PumpAction)),
        (Role.NURSE, {PumpAction.PAIR, PumpAction.INTERROGATE, PumpAction.ALARM_TEST,
                      PumpAction.REFILL}),
        (Role.PHARMACIST, set()),
        (Role.ADMINISTRATOR, set()),
        (Role.PATIENT, set()),
    ],
)  # fmt: skip
def test_only_prescribers_change_what_a_pump_delivers(role: Role, allowed: set[PumpAction]) -> None:
    actor = Actor(1, "someone", role, patient_id=1 if role is Role.PATIENT else None)
    permitted = {
        action for action, needed in PUMP_ACTION_PERMISSIONS.items() if can(actor, needed, 1)
    }
    assert permitted == allowed
