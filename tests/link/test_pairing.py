"""Pairing with the device secret, enrolment by a clinician, and what the pump remembers."""

from __future__ import annotations

import pytest

from tests.link.pumps import SERIAL, simulated_pump
from thecal.link.controller import HandshakeRefused, identify
from thecal.link.keys import StaticKey
from thecal.link.messages import EnrolController, ListControllers, RefusalReason
from thecal.link.pump_state import PumpLinkState
from thecal.pump.commands import Accepted, Interrogate, PatientBolusRequest, Role


def test_a_programmer_pairs_with_the_card_secret_and_becomes_a_clinician() -> None:
    pump = simulated_pump(open_pairing=True)
    channel = pump.channel()
    identity = identify(channel)
    assert identity.serial == SERIAL and identity.pairing_open
    key = StaticKey.generate()
    link = pump.controller(key, channel)
    link.pump_public_key = identity.public_key
    welcome = link.pair(pump.endpoint.state.device_secret, Role.CLINICIAN, "OR programmer")
    assert welcome.role is Role.CLINICIAN and welcome.key_id == key.id
    enrolled = pump.endpoint.state.controllers[key.id]
    assert enrolled.enrolled_by == "device secret" and enrolled.label == "OR programmer"
    assert isinstance(link.call(Interrogate()), Accepted)


def test_a_clinician_enrols_a_patient_controller_which_can_then_connect() -> None:
    pump = simulated_pump()
    clinician = pump.controller(pump.enrol(Role.CLINICIAN))
    handset = StaticKey.generate()
    assert isinstance(
        clinician.call(EnrolController(handset.public, Role.PATIENT, "PTM")), Accepted
    )
    assert isinstance(pump.controller(handset).call(PatientBolusRequest()), Accepted)
    listing = clinician.call(ListControllers())
    assert isinstance(listing, Accepted)
    roles = {c.key_id: c.role for c in listing.payload.controllers}  # type: ignore[attr-defined]
    assert roles[handset.id] is Role.PATIENT


def test_an_impostor_pump_cannot_complete_pairing_without_the_device_secret() -> None:
    genuine = simulated_pump(open_pairing=True)
    impostor = simulated_pump(open_pairing=True)  # another device, another secret
    link = impostor.controller(StaticKey.generate())
    link.pump_public_key = impostor.endpoint.state.static.public  # what its IDENTIFY claims
    with pytest.raises(HandshakeRefused) as refused:
        link.pair(genuine.endpoint.state.device_secret, Role.CLINICIAN, "fooled?")
    assert refused.value.refusal.reason is RefusalReason.WRONG_SECRET
    assert link.session is None


def test_a_key_mismatch_with_the_real_pump_fails_the_handshake() -> None:
    pump = simulated_pump(open_pairing=True)
    link = pump.controller(StaticKey.generate())
    link.pump_public_key = StaticKey.generate().public  # a spoofed IDENTIFY answer
    with pytest.raises(HandshakeRefused) as refused:
        link.pair(pump.endpoint.state.device_secret, Role.CLINICIAN, "x")
    assert refused.value.refusal.reason is RefusalReason.FAILED
    assert not pump.endpoint.state.controllers


def test_the_link_state_survives_a_round_trip_through_its_saved_form() -> None:
    pump = simulated_pump()
    clinician = pump.controller(pump.enrol(Role.CLINICIAN))
    clinician.call(EnrolController(StaticKey.generate().public, Role.PATIENT, "PTM"))
    state = pump.endpoint.state
    state.pairing.failures = 2
    again = PumpLinkState.from_dict(state.to_dict())
    assert again.to_dict() == state.to_dict()
    assert again.controllers == state.controllers and again.responses == state.responses
