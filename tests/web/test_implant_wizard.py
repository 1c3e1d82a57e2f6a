"""The implant wizard through the real pages: the demo candidate gets a pump, catheter,
first fill and starting prescription; wrong entries come back with the values kept."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.support import LiveClinic, sign_in
from thecal.clinic.access import Actor
from thecal.clinic.service import implants, patients, prescriptions, refills


def _candidate_id(live: LiveClinic) -> int:
    with live.clinic.read(Actor.system("test")) as call:
        found = patients.list_patients(call, "Petrova")
    return int(found.items[0].id)


def _fill_steps(page: Page, volume: str = "20 mL") -> None:
    page.get_by_label("Pump model").select_option("peristaltic-20")
    page.get_by_label("Serial number").fill("PS20-777001")
    page.get_by_label("Catheter model").select_option("prometra-110")
    page.get_by_label("Trimmed length (cm cut off)").fill("60")
    page.get_by_label("Catheter tip level (vertebra, e.g. T10)").fill("T8")
    page.get_by_label("Drug", exact=True).select_option("morphine")
    page.get_by_label("Concentration").fill("10 mg/mL")
    page.get_by_label("Lot number").fill("LOT-1234")
    page.get_by_label("Volume filled (e.g. 20 mL)").fill(volume)
    page.get_by_label("Starting dose, simple continuous (e.g. 100 mcg/day)").fill("1 mg/day")


def test_candidate_is_implanted_end_to_end(page: Page, live: LiveClinic) -> None:
    patient_id = _candidate_id(live)
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/implant")
    _fill_steps(page)
    expect(page.locator("#priming")).to_contain_text("mL over")
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", name="Step 4 · Review")).to_be_visible()
    page.screenshot(path="/tmp/wizshots/implant_review.png", full_page=True)
    page.get_by_role("button", name="Save implant").click()
    expect(page.get_by_role("heading", name=re.compile("Implant saved"))).to_be_visible()
    with live.clinic.read(Actor.system("test")) as call:
        implant = implants.active_implant(call, patient_id)
        assert implant is not None and implant.serial == "PS20-777001"
        rx = prescriptions.current_prescription(call, implant.id)
        fills = refills.list_refills(call, implant.id)
    assert rx is not None and rx.drug == "morphine"
    assert [f.volume_added for f in fills] == ["20 mL"]
