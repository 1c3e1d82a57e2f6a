"""The pump session page: the clinic server as a clinician programmer, over the real secure
link, against a served pump twin whose serial and drug match a demo patient's implant
(Colette Moreau: morphine 10 mg/mL in a 20 mL peristaltic pump).

The browser tests drive the real pages; the others use plain HTTP where a browser adds
nothing. The twin runs on the wall clock from one hour before the clinic's (fixed) now,
so its readings are never in the clinic's future.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from typer.testing import CliRunner

from tests.clinic.support import prescribe
from tests.web.conftest import live_clinic
from tests.web.support import (
    DEMO_NOW,
    PASSWORDS,
    SYSTEM,
    LiveClinic,
    csrf_of,
    sign_in,
    signed_in_client,
)
from thecal.cli.main import app as cli_app
from thecal.clinic.service import Clinic, implants, interrogations, patients, prescriptions
from thecal.link.authority import AuthorityKey, TrustedAuthority, issue_credential
from thecal.link.frame import Frame, FrameType
from thecal.link.keys import DeviceSecret
from thecal.link.pump_endpoint import Handled
from thecal.link.served_pump import ImplantSpec, ServedPump
from thecal.programmer import clinician
from thecal.programmer.connection import open_session, pair_tcp
from thecal.programmer.home import ControllerHome
from thecal.pump.commands import Role
from thecal.pump.payloads import TherapyState
from thecal.therapy.prescription import Prescription
from thecal.therapy.prescription_toml import write_prescription
from thecal.therapy.quantities import DoseRate
from thecal.therapy.safety import Rule
from thecal.therapy.units import parse_concentration, parse_volume
from thecal.web.pages.prescription import fields_from_prescription
from thecal.web.pumps import ProgrammerStation, PumpInReach

FAMILY = "Moreau"
LABEL = "Moreau, Colette"


class ServedTwin(ServedPump):
    """A served pump whose answers can be lost: with `deaf` set it still carries out
    every command, but its replies never leave (a pump that stops answering)."""

    deaf = False

    def handle(self, frame: Frame) -> Handled:
        handled = super().handle(frame)
        if self.deaf and frame.type is FrameType.DATA:
            return Handled([], handled.key_id)
        return handled


@dataclass
class Rig:
    """The live clinic, the served twin and the programmer station that reaches it."""

    live: LiveClinic
    served: ServedTwin
    station: ProgrammerStation
    serial: str
    patient_id: int
    implant_id: int
    clinic_rx: Prescription

    @property
    def card(self) -> str:
        """The device secret as printed on the implant card."""
        return self.served.endpoint.state.device_secret.card_text()

    @property
    def home(self) -> ControllerHome:
        return ControllerHome(self.station.home)

    def pair(self) -> None:
        """Pair the station as the page would (for tests about what comes after)."""
        secret = self.served.endpoint.state.device_secret
        pair_tcp(self.home, self.station.pumps[0].address, secret, serial=self.serial)

    def run_on_pump(self, rx: Prescription) -> None:
        """Program the twin directly through the programmer (a previous clinic visit)."""
        with open_session(self.home, self.home.pairing(self.serial)) as session:
            report = clinician.interrogate(session.link)
            checked = clinician.review_against_pump(rx, report)
            reasons = {rule: "set up by the test" for rule in checked.needs_reasons}
            assert clinician.program(session.link, checked, reasons).outcome.value == "done"

    def advance(self, days: int) -> None:
        """Let the pump live `days` days at once (its clock then stays there: the wall
        clock it follows will not catch up during a test)."""
        with self.served.lock:
            self.served.twin.advance(self.served.twin.now + timedelta(days=days))

    def readings(self) -> int:
        with self.live.clinic.read(SYSTEM) as call:
            return len(interrogations.list_interrogations(call, self.implant_id))


@dataclass
class _Built:
    """What the station builder made while the live clinic started."""

    served: ServedTwin | None = None
    station: ProgrammerStation | None = None


def _moreau(clinic: Clinic) -> tuple[int, implants.ImplantView, prescriptions.PrescriptionView]:
    with clinic.read(SYSTEM) as call:
        patient = patients.list_patients(call, FAMILY).items[0]
        implant = implants.find_active_by_serial(
            call, implants.list_implants(call, patient.id)[0].serial
        )
        assert implant is not None
        rx = prescriptions.current_prescription(call, implant.id)
        assert rx is not None
    return patient.id, implant, rx


def _build_station(folder: Path, options: dict[str, Any], built: _Built) -> Any:
    """A builder for `live_clinic`: a twin of Moreau's pump, served on a free port, and a
    station that reaches it (knowing its device secret, as the demo does, if asked). The
    twin's clock starts `days_ago` days (default: an hour) before the clinic's now."""
    knows_secret = bool(options.get("knows_secret", False))
    back = timedelta(days=options["days_ago"]) if "days_ago" in options else timedelta(hours=1)

    def build(clinic: Clinic) -> ProgrammerStation:
        _, implant, rx = _moreau(clinic)
        with clinic.read(SYSTEM) as call:
            start = DEMO_NOW.astimezone(call.tz).replace(tzinfo=None) - back
        spec = ImplantSpec(implant.pump_model, implant.serial, rx.drug,
                           parse_concentration(rx.concentration), parse_volume(implant.reservoir),
                           None, True, start)  # fmt: skip
        # the clinic's authority: installed in the pump at implant, and it signed the
        # station's clinician credential
        authority = AuthorityKey.generate()
        both = frozenset({Role.CLINICIAN, Role.EMERGENCY})
        trusted = TrustedAuthority(authority.public, "test clinic", both, start, "implant")
        served = ServedTwin.open(folder / "pump", spec, authorities=(trusted,))
        station_home = ControllerHome(folder / "station")
        station_home.install_credential(
            issue_credential(authority, station_home.public_key(), Role.CLINICIAN, "station",
                             start - timedelta(days=400), start + timedelta(days=3650))
        )  # fmt: skip
        served.open_pairing(timedelta(hours=2))
        host, port = served.listen("127.0.0.1", 0)
        secret = served.endpoint.state.device_secret.card_text() if knows_secret else None
        pump = PumpInReach(implant.serial, implant.pump_model, f"{host}:{port}", LABEL, secret)
        built.served = served
        built.station = ProgrammerStation(folder / "station", (pump,))
        return built.station

    return build


@pytest.fixture
def rig(demo_template: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    """Moreau's pump in reach; ``indirect`` parameters: ``knows_secret`` (the station knows
    the device secret, as the demo does) and ``days_ago`` (when the twin's clock starts)."""
    options: dict[str, Any] = getattr(request, "param", {})
    built = _Built()
    with live_clinic(demo_template, tmp_path, _build_station(tmp_path, options, built)) as live:
        assert built.served is not None and built.station is not None
        try:
            patient_id, implant, rx = _moreau(live.clinic)
            yield Rig(live, built.served, built.station, implant.serial, patient_id, implant.id,
                      rx.prescription)  # fmt: skip
        finally:
            built.served.stop()


@pytest.fixture
def live(rig: Rig) -> LiveClinic:
    """The browser tests' clinic is the one with the pump in reach."""
    return rig.live


def _session(page: Page, rig: Rig, user: str = "dr.hale") -> None:
    sign_in(page, user)
    page.goto(f"/pump/{rig.serial}")


def _text(html: str) -> str:
    """The visible words of a page's main part, for the HTTP-level tests."""
    main = html.split("<main", 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", main)))


def _post(client: httpx.Client, path: str, **data: str) -> httpx.Response:
    token = csrf_of(client.get("/pump").text)
    return client.post(path, data={"csrf_token": token, **data}, timeout=60)


# --- through the browser ---------------------------------------------------------------------


def test_pair_interrogate_and_file_the_reading_in_the_patients_record(page: Page, rig: Rig) -> None:
    sign_in(page, "dr.hale")
    page.goto("/pump")
    row = page.get_by_role("row", name=re.compile(rig.serial))
    expect(row).to_contain_text("not paired")
    row.get_by_role("link", name=re.compile("^Open session")).click()
    page.get_by_label("Device secret").fill(rig.card)
    page.get_by_role("button", name="Pair", exact=True).click()
    expect(page.locator("#pump-notice")).to_contain_text(f"Paired with pump {rig.serial}")
    page.get_by_role("button", name="Interrogate", exact=True).click()
    report = page.locator("#pump-report")
    expect(report).to_contain_text("morphine 10 mg/mL")
    expect(report).to_contain_text("20 mL of 20 mL")
    expect(page.locator("#pump-prescription")).to_contain_text("holds no prescription")
    before = rig.readings()
    page.get_by_role("button", name="Interrogate and file in the record").click()
    filed = page.locator("#clinic-filed")
    expect(filed).to_contain_text("Reading filed as interrogation")
    expect(filed).to_contain_text("Next refill due")
    assert rig.readings() == before + 1


def test_a_prescription_is_sent_only_after_the_side_by_side_review_and_is_read_back(
    page: Page, rig: Rig
) -> None:
    rig.pair()
    lower = replace(rig.clinic_rx, rate=DoseRate.from_mg_per_day(3))
    rig.run_on_pump(lower)  # the pump still runs last visit's 3 mg/day
    _session(page, rig)
    page.get_by_role("button", name="Review sending the clinic's prescription").click()
    compare = page.locator("#pump-compare")
    expect(compare.get_by_role("row", name=re.compile("^rate"))).to_contain_text("3 mg/day")
    expect(compare.get_by_role("row", name=re.compile("^rate"))).to_contain_text("4 mg/day")
    assert rig.served.twin.view().prescription_hash == lower.content_hash  # nothing sent yet
    page.get_by_role("button", name="Send to the pump").click()  # no reason for the warning
    expect(page.locator("#reason-titration_step-error")).to_contain_text("reason is required")
    assert rig.served.twin.view().prescription_hash == lower.content_hash
    page.get_by_label("Reason to override titration step").fill("breakthrough pain, reviewed")
    page.get_by_role("button", name="Send to the pump").click()
    expect(page.locator("#program-result")).to_contain_text("Written and verified")
    assert rig.served.twin.view().prescription_hash == rig.clinic_rx.content_hash


@pytest.mark.parametrize("rig", [{"days_ago": 21}], indirect=True)
def test_a_refill_reconciles_the_syringe_reading_then_files_the_pump_in_the_record(
    page: Page, rig: Rig
) -> None:
    rig.pair()
    rig.run_on_pump(rig.clinic_rx)
    rig.advance(20)  # 20 days at 0.4 mL/day: 8 mL delivered
    _session(page, rig)
    page.get_by_role("button", name="Refill", exact=True).click()
    expect(page.locator("#refill-expected")).to_contain_text("The pump expects")
    # At the patient's side: the syringe empties the reservoir and fills it again.
    syringe = rig.served.syringe({"op": "refill", "volume": "20 mL", "concentration": "10 mg/mL"})
    page.get_by_label("Volume aspirated").fill(syringe["aspirated"])
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#refill-plan")).to_contain_text(f"Aspirated{syringe['aspirated']}")
    expect(page.locator("#refill-plan")).to_contain_text("unchanged")
    before = rig.readings()
    page.get_by_role("button", name="Refill the pump").click()
    expect(page.locator("#refill-result")).to_contain_text("refill registered")
    expect(page.locator("#reconciliation")).to_contain_text("within expected")
    expect(page.locator("#clinic-filed")).to_contain_text("Reading filed")
    assert rig.readings() == before + 1
    assert rig.served.twin.view().reservoir.fill_volume == parse_volume("20 mL")


def test_stop_and_resume_ask_for_confirmation_then_change_delivery(page: Page, rig: Rig) -> None:
    rig.pair()
    rig.run_on_pump(rig.clinic_rx)
    _session(page, rig)
    page.get_by_role("button", name="Stop delivery…").click()
    expect(page.locator("#confirm-explanation")).to_contain_text("receives no drug")
    assert rig.served.twin.view().therapy.state is TherapyState.RUNNING  # only asked
    page.get_by_role("button", name="Yes: stop all delivery").click()
    expect(page.locator("#command-result")).to_contain_text("Stop: done")
    assert rig.served.twin.view().therapy.state is TherapyState.STOPPED
    page.get_by_role("button", name="Resume delivery…").click()
    page.get_by_role("button", name="Yes: resume delivery").click()
    expect(page.locator("#command-result")).to_contain_text("Resume: done")
    assert rig.served.twin.view().therapy.state is TherapyState.RUNNING


def test_a_wrong_device_secret_is_named_on_the_form_and_kept(page: Page, rig: Rig) -> None:
    wrong = DeviceSecret.generate().card_text()
    _session(page, rig)
    page.get_by_label("Device secret").fill(wrong)
    page.get_by_role("button", name="Pair", exact=True).click()
    expect(page.locator("#secret-error")).to_contain_text("refused this device secret")
    expect(page.get_by_label("Device secret")).to_have_value(wrong)
    assert rig.home.pairings() == {}


def test_pairing_works_from_the_keyboard_alone(page: Page, rig: Rig) -> None:
    sign_in(page, "dr.hale")
    page.goto("/pump")
    for _ in range(40):  # Tab along the page until the pump's link has focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").startswith("Open session"):
            break
    page.keyboard.press("Enter")
    expect(page.get_by_label("Device secret")).to_be_focused()
    page.keyboard.type(rig.card)
    page.keyboard.press("Enter")
    expect(page.locator("#pump-notice")).to_contain_text("Paired")
    assert rig.serial in rig.home.pairings()


def test_a_nurse_may_refill_but_is_offered_no_programming_or_stop(page: Page, rig: Rig) -> None:
    rig.pair()
    _session(page, rig, "nurse.okafor")
    expect(page.get_by_role("button", name="Refill", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Alarm test…")).to_be_visible()
    expect(
        page.get_by_role("button", name="Review sending the clinic's prescription")
    ).to_have_count(0)
    expect(page.get_by_role("button", name="Stop delivery…")).to_have_count(0)


# --- over HTTP ---------------------------------------------------------------------------


def test_a_nurse_who_posts_a_prescription_anyway_is_refused_and_nothing_is_sent(
    rig: Rig,
) -> None:
    rig.pair()
    with signed_in_client(rig.live, "nurse.okafor") as client:
        answer = _post(client, f"/pump/{rig.serial}/program", action="review")
        stop = _post(client, f"/pump/{rig.serial}/control", command="stop", confirmed="yes")
    assert answer.status_code == 403 and stop.status_code == 403
    assert rig.served.twin.view().prescription is None


@pytest.mark.parametrize("user", ["pat.moreau", "pharm.lind"])
def test_a_patient_or_pharmacist_cannot_open_a_pump_session(rig: Rig, user: str) -> None:
    with signed_in_client(rig.live, user) as client:
        assert client.get("/pump").status_code == 403
        assert client.get(f"/pump/{rig.serial}").status_code == 403


def test_a_post_without_the_csrf_token_is_refused(rig: Rig) -> None:
    rig.pair()
    with signed_in_client(rig.live, "dr.hale") as client:
        answer = client.post(f"/pump/{rig.serial}/control",
                             data={"command": "alarm_test", "confirmed": "yes"})  # fmt: skip
    assert answer.status_code == 403


@pytest.mark.parametrize("rig", [{"knows_secret": True}], indirect=True)
def test_the_demo_prefills_the_secret_it_knows_and_says_so(rig: Rig) -> None:
    with signed_in_client(rig.live, "dr.hale") as client:
        html = client.get(f"/pump/{rig.serial}").text
    assert f'value="{rig.card}"' in html
    assert "Pre-filled by the demo" in _text(html)


def test_without_the_secret_the_field_is_empty(rig: Rig) -> None:
    with signed_in_client(rig.live, "dr.hale") as client:
        html = client.get(f"/pump/{rig.serial}").text
    assert rig.card not in html and "Pre-filled" not in html


def test_the_patient_page_opens_the_session_of_a_pump_in_reach(rig: Rig) -> None:
    with signed_in_client(rig.live, "dr.hale") as client:
        html = client.get(f"/patients/{rig.patient_id}").text
        via_implant = client.get(f"/pump?implant={rig.implant_id}", follow_redirects=False)
    assert f'href="/pump/{rig.serial}"' in html and "Open pump session" in html
    assert via_implant.status_code == 303
    assert via_implant.headers["location"] == f"/pump/{rig.serial}"


def test_a_pump_that_stops_answering_mid_command_is_outcome_unknown_until_reconnect(
    rig: Rig,
) -> None:
    rig.pair()
    rig.run_on_pump(rig.clinic_rx)
    with signed_in_client(rig.live, "dr.hale") as client:
        rig.served.deaf = True  # it acts on the stop, but its answer is lost
        lost = _post(client, f"/pump/{rig.serial}/control", command="stop", confirmed="yes")
        assert lost.status_code == 200
        assert "Outcome unknown — will be resolved on reconnect" in _text(lost.text)
        assert len(rig.home.pending(rig.serial)) == 1
        rig.served.deaf = False
        again = _post(client, f"/pump/{rig.serial}/interrogate")
    words = _text(again.text)
    assert re.search(r"Earlier unanswered request \S+ \(Stop\): the pump says it was carried out",
                     words)  # fmt: skip
    assert rig.home.pending(rig.serial) == []
    assert rig.served.twin.view().therapy.state is TherapyState.STOPPED


def test_an_unreachable_pump_is_named_in_words_with_nothing_sent(rig: Rig) -> None:
    rig.pair()
    rig.served.stop()
    with signed_in_client(rig.live, "dr.hale") as client:
        answer = _post(client, f"/pump/{rig.serial}/interrogate")
    assert answer.status_code == 200
    assert "did not answer" in _text(answer.text) and "Nothing was sent" in _text(answer.text)
    assert rig.home.pending(rig.serial) == []


def test_a_double_submitted_refill_is_sent_once(rig: Rig) -> None:
    rig.pair()
    rig.run_on_pump(rig.clinic_rx)
    entries = {"aspirated": "19.9 mL", "fill": "20 mL", "drug": "morphine",
               "concentration": "10 mg/mL", "key": "refill-double-submit"}  # fmt: skip
    with signed_in_client(rig.live, "dr.hale") as client:
        first = _post(client, f"/pump/{rig.serial}/refill", action="send", **entries)
        second = _post(client, f"/pump/{rig.serial}/refill", action="send", **entries)
    assert "refill registered" in _text(first.text)
    assert "was not sent again" in _text(second.text)
    refills = [e for e in rig.served.twin.view().events if e.kind.value == "refill"]
    assert len(refills) == 1


def test_an_aspirate_larger_than_the_reservoir_is_refused_and_nothing_is_sent(rig: Rig) -> None:
    rig.pair()
    rig.run_on_pump(rig.clinic_rx)
    entries = {"aspirated": "25 mL", "fill": "20 mL", "drug": "morphine",
               "concentration": "10 mg/mL", "key": "refill-25-from-20"}  # fmt: skip
    with signed_in_client(rig.live, "dr.hale") as client:
        answer = _post(client, f"/pump/{rig.serial}/refill", action="send", **entries)
    assert answer.status_code == 422
    assert "aspirated volume 25 mL is more than the 20 mL reservoir holds" in _text(answer.text)
    refills = [e for e in rig.served.twin.view().events if e.kind.value == "refill"]
    assert refills == []


def test_a_refill_entry_that_is_not_a_volume_is_named_and_kept(rig: Rig) -> None:
    rig.pair()
    entries = {"aspirated": "lots", "fill": "20 mL", "drug": "morphine",
               "concentration": "10 mg/mL", "key": "refill-typo"}  # fmt: skip
    with signed_in_client(rig.live, "dr.hale") as client:
        answer = _post(client, f"/pump/{rig.serial}/refill", action="review", **entries)
    assert answer.status_code == 422
    assert "aspirated volume: 'lots'" in _text(answer.text) and 'value="lots"' in answer.text


def test_without_a_station_the_page_explains_how_to_run_one(
    demo_template: Path, tmp_path: Path
) -> None:
    with (
        live_clinic(demo_template, tmp_path) as plain,
        signed_in_client(plain, "dr.hale") as client,
    ):
        words = _text(client.get("/pump").text)
    assert "No pumps in reach" in words and "thecal demo" in words


@pytest.mark.parametrize("rig", [{"days_ago": 21}], indirect=True)
def test_a_concentration_change_programs_the_clinics_prescription_with_a_bridge_bolus(
    page: Page, rig: Rig
) -> None:
    rig.pair()
    rig.run_on_pump(rig.clinic_rx)
    rig.advance(20)
    stronger = {"drug": "morphine", "concentration": "25 mg/mL", "mode": "simple_continuous",
                "rate": "4 mg/day"}  # fmt: skip
    reasons = {"bridge_bolus": "bridged by the programmer at the refill"}
    new_rx = prescribe(rig.live.clinic, rig.implant_id, stronger, reasons)  # prescribed
    syringe = rig.served.syringe({"op": "refill", "volume": "20 mL", "concentration": "25 mg/mL"})
    _session(page, rig)
    page.get_by_role("button", name="Refill", exact=True).click()
    page.get_by_label("Volume aspirated").fill(syringe["aspirated"])
    page.get_by_label("Concentration", exact=True).fill("25 mg/mL")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#refill-refusal")).to_contain_text("needs the prescription")
    expect(page.get_by_role("button", name="Refill the pump")).to_have_count(0)
    page.get_by_role("button", name="Change entries").click()
    page.get_by_label(re.compile("Also program the clinic's current prescription")).check()
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#refill-bridge")).to_contain_text("of the old solution")
    for reason in page.get_by_label(re.compile("^Reason to override")).all():
        reason.fill("bridge bolus computed from the catheter data")
    page.get_by_role("button", name="Refill the pump").click()
    expect(page.locator("#refill-result")).to_contain_text("prescription written and verified")
    expect(page.locator("#refill-result")).to_contain_text("Bridge bolus")
    view = rig.served.twin.view()
    assert view.prescription_hash == new_rx.content_hash
    assert view.bolus is not None and view.bolus.kind.value == "bridge"


def test_a_closed_pairing_window_is_named_on_the_form_with_the_secret_kept(rig: Rig) -> None:
    with rig.served.lock:
        rig.served.endpoint.state.pairing.open_until = None  # the window timed out
    with signed_in_client(rig.live, "dr.hale") as client:
        answer = _post(client, f"/pump/{rig.serial}/pair", secret=rig.card)
    assert answer.status_code == 422
    assert "pairing window is closed" in _text(answer.text)
    assert f'value="{rig.card}"' in answer.text and rig.home.pairings() == {}


def test_pairing_with_an_unreachable_pump_is_named_on_the_form(rig: Rig) -> None:
    rig.served.stop()
    with signed_in_client(rig.live, "dr.hale") as client:
        answer = _post(client, f"/pump/{rig.serial}/pair", secret=rig.card)
    assert answer.status_code == 422
    assert "did not answer" in _text(answer.text) and "Nothing was paired" in _text(answer.text)


def test_a_send_that_did_not_come_from_a_review_sends_nothing(rig: Rig) -> None:
    rig.pair()
    with signed_in_client(rig.live, "dr.hale") as client:
        answer = _post(client, f"/pump/{rig.serial}/program", action="send")
    assert answer.status_code == 422
    assert "sent only from its review" in _text(answer.text)
    assert rig.served.twin.view().prescription is None


# --- one safety context at every entry point -------------------------------------------------

TITRATION_VERDICT = re.compile(
    r'<li class="verdict (\w+)" data-rule="titration_interval">(.*?)</li>', re.S
)


def _save(clinic: Clinic, implant_id: int, rx: Prescription, at: datetime) -> None:
    """Save `rx` in the clinic record from `at`, with a reason for every warning."""
    with clinic.read(SYSTEM) as call:
        evaluation = prescriptions.evaluate_prescription(call, implant_id, rx)
    reasons = {Rule(rule): "set up by the test" for rule in evaluation.needs_reason}
    order = prescriptions.PrescriptionOrder(rx, reasons, active_from=at)
    clinic.perform(SYSTEM, lambda call: prescriptions.prescribe(call, implant_id, order))


def _input(rx: Prescription) -> dict[str, Any]:
    """The API's and the editor's fields for a simple continuous prescription with patient
    boluses (Moreau's), quantities as text."""
    fields = fields_from_prescription(rx, None)
    return {
        "drug": fields.drug, "concentration": fields.concentration, "mode": fields.mode,
        "rate": fields.rate,
        "patient_bolus": {"dose": fields.pb_dose, "duration": fields.pb_duration,
                          "lockout": fields.pb_lockout, "max_per_24h": int(fields.pb_max)},
    }  # fmt: skip


def _judged_by_api(rig: Rig, rx: Prescription) -> tuple[str, bool]:
    with httpx.Client(base_url=rig.live.url) as client:
        login = {"username": "dr.hale", "password": PASSWORDS["dr.hale"]}
        token = client.post("/api/v1/auth/login", json=login).json()["token"]
        answer = client.post(
            f"/api/v1/implants/{rig.implant_id}/prescriptions/evaluate",
            json={"prescription": _input(rx)},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200, answer.text
    verdict = next(v for v in answer.json()["verdicts"] if v["rule"] == "titration_interval")
    return verdict["outcome"], verdict["value"] is not None


def _judged_on_page(html: str) -> tuple[str, bool]:
    found = TITRATION_VERDICT.search(html)
    assert found is not None, "no titration interval verdict on the page"
    return found.group(1), "value <b>" in found.group(2)


def _judged_by_editor(rig: Rig, rx: Prescription) -> tuple[str, bool]:
    data = _input(rx)
    pb = data.pop("patient_bolus")
    form = {**data, "patient_bolus": "on", "pb_dose": pb["dose"], "pb_duration": pb["duration"],
            "pb_lockout": pb["lockout"], "pb_max": str(pb["max_per_24h"])}  # fmt: skip
    with signed_in_client(rig.live, "dr.hale") as client:
        answer = _post(client, f"/implants/{rig.implant_id}/prescription/check", **form)
    assert answer.status_code == 200
    return _judged_on_page(answer.text)


def _judged_by_cli(rig: Rig, rx: Prescription, folder: Path) -> tuple[str, bool]:
    proposal = folder / "proposal.toml"
    write_prescription(rx, proposal)
    database = rig.live.clinic.database.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli_app, ["check", str(proposal), "--implant", str(rig.implant_id),
                                          "--database", database, "--now", DEMO_NOW.isoformat(),
                                          "--json"])  # fmt: skip
    assert result.exit_code in (0, 3), result.stderr
    verdicts = json.loads(result.stdout)["verdicts"]
    verdict = next(v for v in verdicts if v["rule"] == "titration_interval")
    return verdict["outcome"], verdict["value"] is not None


def _judged_by_pump_session(rig: Rig, rx: Prescription) -> tuple[str, bool]:
    _save(rig.live.clinic, rig.implant_id, rx, DEMO_NOW)  # the clinic's prescription to send
    with signed_in_client(rig.live, "dr.hale") as client:
        answer = _post(client, f"/pump/{rig.serial}/program", action="review")
    assert answer.status_code == 200
    return _judged_on_page(answer.text)


@pytest.mark.parametrize(
    ("hours_since_increase", "outcome"),
    [(2, "warning"), (23, "warning"), (25, "allowed"), (72, "allowed")],
)
def test_a_further_increase_is_judged_against_the_last_increase_at_every_entry_point(
    rig: Rig, tmp_path: Path, hours_since_increase: int, outcome: str
) -> None:
    """Morphine's soft minimum between increases is 24 h. The clinic raised the dose
    `hours_since_increase` ago and the pump runs that dose; a further increase is judged
    against that increase (and says how long ago it was) through the API, the editor, the
    command line and the pump session alike."""
    rig.pair()
    raised = replace(rig.clinic_rx, rate=DoseRate.from_mg_per_day("4.4"))
    _save(rig.live.clinic, rig.implant_id, raised, DEMO_NOW - timedelta(hours=hours_since_increase))
    rig.run_on_pump(raised)
    further = replace(rig.clinic_rx, rate=DoseRate.from_mg_per_day("4.8"))
    judged = {
        "api": _judged_by_api(rig, further),
        "editor": _judged_by_editor(rig, further),
        "command line": _judged_by_cli(rig, further, tmp_path),
        "pump session": _judged_by_pump_session(rig, further),  # saves it: last
    }
    assert judged == dict.fromkeys(judged, (outcome, True))
