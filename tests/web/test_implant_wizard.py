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


def _no_implant(live: LiveClinic, patient_id: int) -> bool:
    with live.clinic.read(Actor.system("test")) as call:
        return implants.active_implant(call, patient_id) is None


def test_first_fill_beyond_reservoir_is_refused_with_entries_kept(
    page: Page, live: LiveClinic
) -> None:
    patient_id = _candidate_id(live)
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/implant")
    _fill_steps(page, volume="25 mL")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/implant")
    ) as answer:
        page.get_by_role("button", name="Review").click()
    assert answer.value.status == 422
    expect(page.locator("#volume_added-error")).to_contain_text("overfill the 20 mL reservoir")
    expect(page.get_by_label("Serial number")).to_have_value("PS20-777001")
    expect(page.get_by_label("Trimmed length (cm cut off)")).to_have_value("60")
    expect(page.get_by_label("Volume filled (e.g. 20 mL)")).to_have_value("25 mL")
    assert _no_implant(live, patient_id)


def test_edit_from_review_keeps_every_entry(page: Page, live: LiveClinic) -> None:
    patient_id = _candidate_id(live)
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/implant")
    _fill_steps(page)
    page.get_by_role("button", name="Review").click()
    page.get_by_role("button", name="Edit entries").click()
    expect(page.get_by_label("Pump model")).to_have_value("peristaltic-20")
    expect(page.get_by_label("Catheter model")).to_have_value("prometra-110")
    expect(page.get_by_label("Catheter tip level (vertebra, e.g. T10)")).to_have_value("T8")
    expect(page.get_by_label("Lot number")).to_have_value("LOT-1234")
    expect(page.get_by_label("Pump model")).to_have_value("peristaltic-20")
    expect(page.locator("#priming")).to_contain_text("mL over")
    expect(page.get_by_label("Starting dose, simple continuous (e.g. 100 mcg/day)")).to_have_value(
        "1 mg/day"
    )
    assert _no_implant(live, patient_id)


def test_start_above_largest_starting_dose_saves_only_with_a_reason(
    page: Page, live: LiveClinic
) -> None:
    patient_id = _candidate_id(live)
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/implant")
    _fill_steps(page)
    page.get_by_label("Drug", exact=True).select_option("ziconotide")
    page.get_by_label("Concentration").fill("25 mcg/mL")
    page.get_by_label("Starting dose, simple continuous (e.g. 100 mcg/day)").fill("3.6 mcg/day")
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_text("above the largest starting dose")).to_be_visible()
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/implant")
    ) as answer:
        page.get_by_role("button", name="Save implant").click()
    assert answer.value.status == 422
    assert _no_implant(live, patient_id)
    page.get_by_label(re.compile("Reason to accept the warning")).fill("trialled at 3.6 mcg/day")
    page.get_by_role("button", name="Save implant").click()
    expect(page.get_by_role("heading", name=re.compile("Implant saved"))).to_be_visible()
    with live.clinic.read(Actor.system("test")) as call:
        implant = implants.active_implant(call, patient_id)
        assert implant is not None
        rx = prescriptions.current_prescription(call, implant.id)
    assert rx is not None and rx.override_reasons == {"start_dose": "trialled at 3.6 mcg/day"}


def test_a_nurse_is_told_only_a_clinician_may_implant_and_nothing_is_saved(
    page: Page, live: LiveClinic
) -> None:
    patient_id = _candidate_id(live)
    sign_in(page, "nurse.okafor")
    page.goto(f"/patients/{patient_id}/implant")
    expect(page.get_by_role("alert")).to_contain_text("Only a clinician can record an implant")
    _fill_steps(page)
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_label("Serial number")).to_have_value("PS20-777001")
    assert _no_implant(live, patient_id)


def test_unreadable_starting_dose_is_named_on_its_field(page: Page, live: LiveClinic) -> None:
    patient_id = _candidate_id(live)
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/implant")
    _fill_steps(page)
    page.get_by_label("Starting dose, simple continuous (e.g. 100 mcg/day)").fill("lots")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#rate-error")).to_contain_text("rate")
    expect(page.get_by_label("Serial number")).to_have_value("PS20-777001")
    assert _no_implant(live, patient_id)


def test_unknown_tip_level_is_named_on_its_field(page: Page, live: LiveClinic) -> None:
    patient_id = _candidate_id(live)
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/implant")
    _fill_steps(page)
    page.get_by_label("Catheter tip level (vertebra, e.g. T10)").fill("Q9")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#catheter_tip_level-error")).to_contain_text("accepted")
    assert _no_implant(live, patient_id)


def test_browser_back_from_review_keeps_entries(page: Page, live: LiveClinic) -> None:
    patient_id = _candidate_id(live)
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/implant")
    _fill_steps(page)
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", name="Step 4 · Review")).to_be_visible()
    page.go_back()
    expect(page.get_by_label("Serial number")).to_have_value("PS20-777001")
    expect(page.get_by_label("Lot number")).to_have_value("LOT-1234")
    expect(page.get_by_label("Pump model")).to_have_value("peristaltic-20")
    expect(page.locator("#priming")).to_contain_text("mL over")
