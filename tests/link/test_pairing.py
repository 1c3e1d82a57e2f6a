"""Pairing, enrolment, credentials, expiry, revocation and emergency access: who may be a
clinician, and what the implant card's secret can and cannot do."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.link.pumps import (
    CLINIC,
    ER,
    PTM,
    SERIAL,
    T0,
    SimulatedPump,
    credential,
    simulated_pump,
)
from thecal.link.authority import AuthorityKey, CredentialProblem, check_credential
from thecal.link.controller import HandshakeRefused, identify
from thecal.link.events import SecurityEventKind as Kind
from thecal.link.keys import StaticKey
from thecal.link.messages import (
    ControllerList,
    EnrolController,
    ListControllers,
    OpenPairing,
    ReadSecurityLog,
    RefusalReason,
    RemoveAuthority,
    RevokeController,
    SecurityDigest,
    TrustAuthority,
)
from thecal.link.pump_state import PumpLinkState
from thecal.pump.commands import (
    Accepted,
    AlarmTest,
    Interrogate,
    MinimumRate,
    PatientBolusRequest,
    Rejected,
    Rejection,
    Role,
    Stop,
    WritePrescription,
)


def _pair(pump: SimulatedPump, key: StaticKey, *, with_credential: bool, label: str = "x"):  # type: ignore[no-untyped-def]
    link = pump.controller(key, credential=credential(key) if with_credential else None)
    return link, link.pair(pump.endpoint.state.device_secret, label)


def _refusal(pump: SimulatedPump, key: StaticKey, **kwargs: object) -> RefusalReason:
    with pytest.raises(HandshakeRefused) as refused:
        _pair(pump, key, **kwargs)  # type: ignore[arg-type]
    return refused.value.refusal.reason


# -- clinicians ---------------------------------------------------------------------------


def test_a_programmer_with_a_clinician_credential_pairs_with_the_card_and_becomes_a_clinician() -> (
    None
):
    pump = simulated_pump(open_pairing=True)
    channel = pump.channel()
    identity = identify(channel)
    assert identity.serial == SERIAL and identity.pairing_open
    key = StaticKey.generate()
    link = pump.controller(key, channel, credential=credential(key, label="OR programmer"))
    link.pump_public_key = identity.public_key
    welcome = link.pair(pump.endpoint.state.device_secret, "ignored: the credential names it")
    assert welcome.role is Role.CLINICIAN and welcome.key_id == key.id
    enrolled = pump.endpoint.state.controllers[key.id]
    assert enrolled.label == "OR programmer" and "credential" in enrolled.enrolled_by
    assert enrolled.expires_at == credential(key).not_after
    assert isinstance(link.call(Interrogate()), Accepted)


def test_the_card_alone_can_never_make_a_clinician() -> None:
    # The window the magnet opened (implant, first start): the card alone pairs nothing.
    pump = simulated_pump(open_pairing=True)
    key = StaticKey.generate()
    assert _refusal(pump, key, with_credential=False) is RefusalReason.NEEDS_CLINICIAN_WINDOW
    assert key.id not in pump.endpoint.state.controllers
    # In a window a clinician opened, the card alone pairs a patient controller, not more.
    pump.open_pairing_as_clinician()
    link, welcome = _pair(pump, key, with_credential=False, label="PTM")
    assert welcome.role is Role.PATIENT
    assert isinstance(link.call(Stop()), Rejected)
    assert isinstance(link.call(PatientBolusRequest()), Accepted)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda key: credential(key, authority=AuthorityKey.generate()), "unknown_authority"),
        (lambda key: credential(key, authority=ER), "role_not_granted"),
        (lambda key: credential(StaticKey.generate()), "wrong_subject"),
        (lambda key: credential(key, not_after=T0), "expired"),
        (lambda key: credential(key, not_before=T0 + timedelta(days=2)), "not_yet_valid"),
        (lambda key: replace(credential(key), label="someone else"), "bad_signature"),
        (lambda key: replace(credential(key), role=Role.EMERGENCY), "bad_signature"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_credential_the_pump_cannot_trust_pairs_no_one(make, problem: str) -> None:  # type: ignore[no-untyped-def]
    pump = simulated_pump(open_pairing=True)
    key = StaticKey.generate()
    bad = make(key)
    assert check_credential(bad, key.public, pump.endpoint.state.authorities, pump.now()) == (
        CredentialProblem(problem)
    )
    link = pump.controller(key, credential=bad)
    with pytest.raises(HandshakeRefused) as refused:
        link.pair(pump.endpoint.state.device_secret, "x")
    assert refused.value.refusal.reason is RefusalReason.CREDENTIAL
    assert key.id not in pump.endpoint.state.controllers
    assert pump.endpoint.log.of(Kind.CREDENTIAL_REFUSED)


# -- patient controllers -------------------------------------------------------------------


def test_a_clinician_opens_the_window_for_one_patient_controller() -> None:
    pump = simulated_pump()
    clinician = pump.controller(pump.enrol(Role.CLINICIAN))
    opened = clinician.call(OpenPairing(600))
    assert isinstance(opened, Accepted)
    first, second = StaticKey.generate(), StaticKey.generate()
    _, welcome = _pair(pump, first, with_credential=False, label="PTM")
    assert welcome.role is Role.PATIENT
    assert pump.endpoint.state.controllers[first.id].enrolled_by == "device secret"
    # one patient controller per clinician action: the window closed behind it
    assert _refusal(pump, second, with_credential=False) is RefusalReason.PAIRING_CLOSED


def test_a_clinician_enrols_a_patient_controller_which_can_then_connect() -> None:
    pump = simulated_pump()
    clinician = pump.controller(pump.enrol(Role.CLINICIAN))
    handset = StaticKey.generate()
    assert isinstance(
        clinician.call(EnrolController(handset.public, Role.PATIENT, "PTM")), Accepted
    )
    assert isinstance(pump.controller(handset).call(PatientBolusRequest()), Accepted)
    listing = clinician.call(ListControllers())
    assert isinstance(listing, Accepted) and isinstance(listing.payload, ControllerList)
    roles = {c.key_id: c.role for c in listing.payload.controllers}
    assert roles[handset.id] is Role.PATIENT


# -- revocation and expiry ------------------------------------------------------------------


def test_a_revoked_controller_stays_revoked_whatever_it_pairs_with() -> None:
    pump = simulated_pump()
    clinic_programmer = pump.enrol(Role.CLINICIAN)
    clinician = pump.controller(clinic_programmer)
    lost = StaticKey.generate()
    clinician.call(EnrolController(lost.public, Role.PATIENT, "lost PTM"))
    assert isinstance(clinician.call(RevokeController(lost.id)), Accepted)
    clinician.call(OpenPairing(600))
    # neither the card nor a (stolen) clinician credential lifts the revocation
    assert _refusal(pump, lost, with_credential=False) is RefusalReason.REVOKED
    assert _refusal(pump, lost, with_credential=True) is RefusalReason.REVOKED
    assert lost.id in pump.endpoint.state.revoked
    assert clinic_programmer.id in pump.endpoint.state.controllers
    # only a clinician session admits it again, explicitly
    again = clinician.call(EnrolController(lost.public, Role.PATIENT, "found again"))
    assert isinstance(again, Accepted) and "revocation is lifted" in again.message
    assert isinstance(pump.controller(lost).call(PatientBolusRequest()), Accepted)


def test_an_enrolment_expires_and_a_newer_credential_renews_it() -> None:
    pump = simulated_pump(open_pairing=True)
    key = StaticKey.generate()
    short = credential(key, not_after=pump.now() + timedelta(hours=1))
    pump.controller(key, credential=short).pair(pump.endpoint.state.device_secret, "x")
    pump.advance(2 * 3600)
    with pytest.raises(HandshakeRefused) as refused:
        pump.controller(key, credential=short).call(AlarmTest())
    assert refused.value.refusal.reason is RefusalReason.CREDENTIAL
    with pytest.raises(HandshakeRefused) as refused:
        pump.controller(key).call(AlarmTest())
    assert refused.value.refusal.reason is RefusalReason.EXPIRED
    assert pump.endpoint.log.of(Kind.EXPIRED_CONTROLLER)
    renewed = credential(key, not_after=pump.now() + timedelta(days=30))
    assert isinstance(pump.controller(key, credential=renewed).call(AlarmTest()), Accepted)
    assert pump.endpoint.state.controllers[key.id].expires_at == renewed.not_after


def test_a_patient_enrolment_with_an_end_admits_nothing_after_it() -> None:
    pump = simulated_pump()
    clinician = pump.controller(pump.enrol(Role.CLINICIAN))
    handset = StaticKey.generate()
    ends = pump.now() + timedelta(days=1)
    clinician.call(EnrolController(handset.public, Role.PATIENT, "loan PTM", ends))
    assert isinstance(pump.controller(handset).call(PatientBolusRequest()), Accepted)
    pump.advance(2 * 86400)
    with pytest.raises(HandshakeRefused) as refused:
        pump.controller(handset).call(PatientBolusRequest())
    assert refused.value.refusal.reason is RefusalReason.EXPIRED


# -- emergency access ---------------------------------------------------------------------------


def test_an_emergency_programmer_can_make_the_pump_safe_and_nothing_more() -> None:
    pump = simulated_pump()
    key = StaticKey.generate()
    er = pump.controller(key, credential=credential(key, Role.EMERGENCY, ER), emergency=True)
    assert er.connect().role is Role.EMERGENCY
    assert isinstance(er.call(Interrogate()), Accepted)
    assert isinstance(er.call(MinimumRate()), Accepted)
    assert isinstance(er.call(Stop()), Accepted)
    for forbidden in (
        WritePrescription(PTM, PTM.content_hash),
        EnrolController(key.public, Role.CLINICIAN, "me"),
        OpenPairing(60),
        PatientBolusRequest(),
    ):
        response = er.call(forbidden)  # type: ignore[arg-type]
        assert isinstance(response, Rejected) and response.reason is Rejection.NOT_PERMITTED
    assert key.id not in pump.endpoint.state.controllers  # never enrolled
    assert pump.twin.view().therapy.state.value == "stopped"


def test_the_clinics_clinician_credential_also_gives_emergency_access_elsewhere() -> None:
    pump = simulated_pump()
    key = StaticKey.generate()
    visitor = pump.controller(key, credential=credential(key), emergency=True)
    assert visitor.connect().role is Role.EMERGENCY


def test_emergency_access_without_a_trusted_credential_is_refused() -> None:
    pump = simulated_pump()
    key = StaticKey.generate()
    stranger = pump.controller(key, emergency=True)
    with pytest.raises(HandshakeRefused) as refused:
        stranger.connect()
    assert refused.value.refusal.reason is RefusalReason.CREDENTIAL
    homemade = AuthorityKey.generate()
    forger = pump.controller(
        key, credential=credential(key, Role.EMERGENCY, homemade), emergency=True
    )
    with pytest.raises(HandshakeRefused):
        forger.connect()
    assert not pump.endpoint.sessions


def test_emergency_sessions_reach_the_clinic_with_the_next_interrogation() -> None:
    pump = simulated_pump()
    key = StaticKey.generate()
    er = pump.controller(key, credential=credential(key, Role.EMERGENCY, ER, label="ER bay 3"),
                         emergency=True)  # fmt: skip
    er.call(Stop())
    clinician = pump.controller(pump.enrol(Role.CLINICIAN))
    answer = clinician.call(ReadSecurityLog())
    assert isinstance(answer, Accepted) and isinstance(answer.payload, SecurityDigest)
    kinds = [e.kind for e in answer.payload.events]
    assert Kind.EMERGENCY_SESSION in kinds
    assert any("ER bay 3" in e.detail for e in answer.payload.events)


# -- authorities ------------------------------------------------------------------------------


def test_a_clinician_installs_another_clinics_authority_and_removes_its_own() -> None:
    pump = simulated_pump(open_pairing=True)
    clinician = pump.controller(pump.enrol(Role.CLINICIAN))
    new_clinic = AuthorityKey.generate()
    installed = clinician.call(
        TrustAuthority(new_clinic.public, "new clinic", frozenset({Role.CLINICIAN}))
    )
    assert isinstance(installed, Accepted)
    assert isinstance(clinician.call(RemoveAuthority(CLINIC.id)), Accepted)
    old, new = StaticKey.generate(), StaticKey.generate()
    with pytest.raises(HandshakeRefused):
        pump.controller(old, credential=credential(old)).pair(pump.endpoint.state.device_secret, "")
    welcome = pump.controller(new, credential=credential(new, authority=new_clinic)).pair(
        pump.endpoint.state.device_secret, ""
    )
    assert welcome.role is Role.CLINICIAN


# -- pairing's own guards ------------------------------------------------------------------------


def test_an_impostor_pump_cannot_complete_pairing_without_the_device_secret() -> None:
    genuine = simulated_pump(open_pairing=True)
    impostor = simulated_pump(open_pairing=True)  # another device, another secret
    key = StaticKey.generate()
    link = impostor.controller(key, credential=credential(key))
    link.pump_public_key = impostor.endpoint.state.static.public  # what its IDENTIFY claims
    with pytest.raises(HandshakeRefused) as refused:
        link.pair(genuine.endpoint.state.device_secret, "fooled?")
    assert refused.value.refusal.reason is RefusalReason.WRONG_SECRET
    assert link.session is None


def test_a_key_mismatch_with_the_real_pump_fails_the_handshake() -> None:
    pump = simulated_pump(open_pairing=True)
    key = StaticKey.generate()
    link = pump.controller(key, credential=credential(key))
    link.pump_public_key = StaticKey.generate().public  # a spoofed IDENTIFY answer
    with pytest.raises(HandshakeRefused) as refused:
        link.pair(pump.endpoint.state.device_secret, "x")
    assert refused.value.refusal.reason is RefusalReason.FAILED
    assert not pump.endpoint.state.controllers


def test_outside_its_window_the_pump_identifies_itself_to_no_one() -> None:
    pump = simulated_pump(open_pairing=False)
    identity = identify(pump.channel())
    assert not identity.identified and identity.serial == "" and identity.model == ""
    pump.endpoint.open_pairing(timedelta(minutes=5))
    assert identify(pump.channel()).public_key == pump.endpoint.state.static.public


def test_the_link_state_survives_a_round_trip_through_its_saved_form() -> None:
    pump = simulated_pump()
    clinician = pump.controller(pump.enrol(Role.CLINICIAN))
    clinician.call(
        EnrolController(StaticKey.generate().public, Role.PATIENT, "PTM", T0 + timedelta(days=9))
    )
    clinician.call(RevokeController("0123456789abcdef"))
    state = pump.endpoint.state
    state.pairing.failures = 2
    again = PumpLinkState.from_dict(state.to_dict())
    assert again.to_dict() == state.to_dict()
    assert again.controllers == state.controllers and again.responses == state.responses
    assert again.authorities == state.authorities


def test_a_link_state_saved_before_authorities_existed_reads_as_trusting_none() -> None:
    saved = simulated_pump().endpoint.state.to_dict()
    saved["format"] = 1
    for name in ("authorities",):
        del saved[name]
    del saved["pairing"]["opened_by"]
    for controller in saved["controllers"]:
        del controller["expires_at"]
    old = PumpLinkState.from_dict(saved)
    assert old.authorities == {} and old.pairing.opened_by == "magnet"
