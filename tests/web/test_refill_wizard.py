"""The refill wizard through the real pages: reconcile the aspirate, refill, book the
next refill date; a discrepancy, a concentration change, an overfill and a double
submit each behave as the clinic service decides."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.support import SYSTEM, LiveClinic, csrf_of, implant_id_of, sign_in, signed_in_client
from thecal.clinic.service import implants, prescriptions, refills


def _expected(live: LiveClinic, implant_id: int) -> str:
    with live.clinic.read(SYSTEM) as call:
        found = refills.refill_expectation(call, implant_id)
    assert found is not None
    # As a syringe reads it: one decimal place.
    return f"{float(found.expected.strip('≈ ').split()[0]):.1f} mL"


def _refill_count(live: LiveClinic, implant_id: int) -> int:
    with live.clinic.read(SYSTEM) as call:
        return len(refills.list_refills(call, implant_id))


def _fill(page: Page, aspirated: str, volume: str = "20 mL") -> None:
    page.get_by_label("Volume aspirated (e.g. 3.2 mL)").fill(aspirated)
    page.get_by_label("Lot number").fill("LOT-W-1")
    page.get_by_label(re.compile(r"^Volume added")).fill(volume)


def test_refill_with_expected_aspirate_books_next_refill(page: Page, live: LiveClinic) -> None:
    implant_id = implant_id_of(live, "Larsen")
    before = _refill_count(live, implant_id)
    sign_in(page, "nurse.okafor")
    page.goto(f"/implants/{implant_id}/refill")
    expect(page.locator("#expected")).to_contain_text("Expected remaining now")
    _fill(page, _expected(live, implant_id))
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", name="Step 4 · Review")).to_be_visible()
    expect(page.get_by_text("Discrepancy:")).to_have_count(0)
    page.get_by_role("button", name="Save refill").click()
    expect(page.get_by_role("heading", name=re.compile("Refill saved"))).to_be_visible()
    with live.clinic.read(SYSTEM) as call:
        implant = implants.get_implant(call, implant_id)
    assert _refill_count(live, implant_id) == before + 1
    assert implant.schedule.next_refill_due is not None
    expect(page.locator("#next-refill")).to_contain_text(
        implant.schedule.next_refill_due.astimezone(live.clinic.tz).strftime("%Y-%m-%d %H:%M")
    )


def test_aspirate_far_below_expected_shows_discrepancy_warning(
    page: Page, live: LiveClinic
) -> None:
    implant_id = implant_id_of(live, "Haddad")
    sign_in(page, "nurse.okafor")
    page.goto(f"/implants/{implant_id}/refill")
    expect(page.get_by_text(re.compile("Last refill .* had a discrepancy"))).to_be_visible()
    _fill(page, "10 mL", "40 mL")
    page.get_by_role("button", name="Review").click()
    warning = page.get_by_role("alert").filter(has_text="Discrepancy: less than expected")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("Likely causes: over-infusion")


def test_a_reservoir_found_empty_is_flagged_with_what_it_means_for_the_drug(
    page: Page, live: LiveClinic
) -> None:
    implant_id = implant_id_of(live, "Haddad")  # morphine
    sign_in(page, "nurse.okafor")
    page.goto(f"/implants/{implant_id}/refill")
    _fill(page, "0 mL", "40 mL")
    page.get_by_role("button", name="Review").click()
    warning = page.get_by_role("alert").filter(has_text="Discrepancy: empty reservoir")
    expect(warning).to_contain_text("Opioid restart precautions")


def test_concentration_change_shows_bridge_bolus(page: Page, live: LiveClinic) -> None:
    implant_id = implant_id_of(live, "Larsen")
    with live.clinic.read(SYSTEM) as call:
        current = prescriptions.current_prescription(call, implant_id)
    assert current is not None
    other = "500 mcg/mL" if current.concentration != "500 mcg/mL" else "2000 mcg/mL"
    sign_in(page, "dr.hale")
    page.goto(f"/implants/{implant_id}/refill")
    _fill(page, _expected(live, implant_id))
    page.get_by_label("Concentration", exact=True).fill(other)
    page.get_by_label(re.compile("^Daily dose if")).fill("400 mcg/day")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#bridge")).to_contain_text("of the old solution over")


def test_bridge_bolus_appears_as_the_concentration_is_changed(page: Page, live: LiveClinic) -> None:
    implant_id = implant_id_of(live, "Larsen")
    sign_in(page, "dr.hale")
    page.goto(f"/implants/{implant_id}/refill")
    expect(page.locator("#bridge-live")).to_contain_text("no bridge bolus")
    page.get_by_label("Concentration", exact=True).fill("2000 mcg/mL")
    page.get_by_label("Concentration", exact=True).press("Tab")
    expect(page.locator("#bridge-live")).to_contain_text("of the old solution over")


def test_overfill_is_refused_and_entries_are_kept(page: Page, live: LiveClinic) -> None:
    implant_id = implant_id_of(live, "Larsen")
    before = _refill_count(live, implant_id)
    sign_in(page, "nurse.okafor")
    page.goto(f"/implants/{implant_id}/refill")
    _fill(page, "2 mL", "45 mL")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/refill")
    ) as answer:
        page.get_by_role("button", name="Review").click()
    assert answer.value.status == 422
    expect(page.locator("#volume_added-error")).to_contain_text("overfill")
    expect(page.get_by_label("Lot number")).to_have_value("LOT-W-1")
    expect(page.get_by_label("Volume aspirated (e.g. 3.2 mL)")).to_have_value("2 mL")
    expect(page.get_by_label(re.compile(r"^Volume added"))).to_have_value("45 mL")
    assert _refill_count(live, implant_id) == before


def test_an_aspirate_larger_than_the_reservoir_is_refused_beside_its_field(
    page: Page, live: LiveClinic
) -> None:
    implant_id = implant_id_of(live, "Larsen")
    before = _refill_count(live, implant_id)
    sign_in(page, "nurse.okafor")
    page.goto(f"/implants/{implant_id}/refill")
    _fill(page, "45 mL", "20 mL")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/refill")
    ) as answer:
        page.get_by_role("button", name="Review").click()
    assert answer.value.status == 422
    expect(page.locator("#aspirated_volume-error")).to_contain_text("more than the")
    expect(page.get_by_label("Volume aspirated (e.g. 3.2 mL)")).to_have_value("45 mL")
    assert _refill_count(live, implant_id) == before


def test_double_submit_records_one_refill(page: Page, live: LiveClinic) -> None:
    implant_id = implant_id_of(live, "Larsen")
    before = _refill_count(live, implant_id)
    sign_in(page, "nurse.okafor")
    page.goto(f"/implants/{implant_id}/refill")
    _fill(page, _expected(live, implant_id))
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("button", name="Save refill")).to_be_visible()
    data = page.locator("form.wizard").evaluate(
        "f => Object.fromEntries(new FormData(f).entries())"
    )
    data["action"] = "save"
    first = page.request.post(f"/implants/{implant_id}/refill", form=data)
    second = page.request.post(f"/implants/{implant_id}/refill", form=data)
    assert (first.status, second.status) == (200, 200)
    assert "Refill saved" in second.text()
    assert _refill_count(live, implant_id) == before + 1


def _tab_to(page: Page, selector: str) -> None:
    """Press Tab until the element matching `selector` has focus (bounded)."""
    for _ in range(60):
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_refill_wizard_by_keyboard_alone(page: Page, live: LiveClinic) -> None:
    implant_id = implant_id_of(live, "Larsen")
    before = _refill_count(live, implant_id)
    sign_in(page, "nurse.okafor")
    page.goto(f"/implants/{implant_id}/refill")
    _tab_to(page, "#aspirated_volume")
    page.keyboard.type(_expected(live, implant_id))
    _tab_to(page, "#lot")
    page.keyboard.type("LOT-KEY-1")
    _tab_to(page, "#volume_added")
    page.keyboard.type("20 mL")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Step 4 · Review")).to_be_visible()
    _tab_to(page, "button[value=save]")
    page.keyboard.press("Space")
    expect(page.get_by_role("heading", name=re.compile("Refill saved"))).to_be_visible()
    assert _refill_count(live, implant_id) == before + 1


def test_concentration_change_saves_refill_and_new_prescription_together(
    page: Page, live: LiveClinic
) -> None:
    implant_id = implant_id_of(live, "Larsen")
    sign_in(page, "dr.hale")
    page.goto(f"/implants/{implant_id}/refill")
    _fill(page, _expected(live, implant_id))
    page.get_by_label("Concentration", exact=True).fill("2000 mcg/mL")
    page.get_by_label(re.compile("^Daily dose if")).fill("400 mcg/day")
    page.get_by_role("button", name="Review").click()
    page.get_by_label(re.compile("Reason to accept the warning")).fill("bridge bolus programmed")
    page.get_by_role("button", name="Save refill").click()
    expect(page.get_by_role("heading", name=re.compile("Refill saved"))).to_be_visible()
    with live.clinic.read(SYSTEM) as call:
        rx = prescriptions.current_prescription(call, implant_id)
        last = refills.list_refills(call, implant_id, limit=1)[0]
    assert rx is not None and (rx.concentration, rx.daily_dose) == ("2 mg/mL", "400 mcg/day")
    assert last.concentration == "2 mg/mL" and last.lot == "LOT-W-1"


def test_refill_of_unknown_implant_is_a_readable_not_found(page: Page) -> None:
    sign_in(page, "nurse.okafor")
    answer = page.goto("/implants/99999/refill")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("main")).to_contain_text("implant")


def test_a_refill_typed_with_a_brand_name_of_the_drug_is_no_change_of_solution(
    live: LiveClinic,
) -> None:
    implant_id = implant_id_of(live, "Larsen")  # baclofen
    with live.clinic.read(SYSTEM) as call:
        current = prescriptions.current_prescription(call, implant_id)
    assert current is not None and current.drug == "baclofen"
    entries = {"action": "review", "aspirated_volume": _expected(live, implant_id),
               "drug": " Lioresal", "concentration": current.concentration, "lot": "LOT-W-2",
               "volume_added": "20 mL", "idempotency_key": "refill-brand-name-0001"}  # fmt: skip
    with signed_in_client(live, "nurse.okafor") as client:
        page = client.get(f"/implants/{implant_id}/refill")
        answer = client.post(
            f"/implants/{implant_id}/refill", data={"csrf_token": csrf_of(page.text), **entries}
        )
    assert answer.status_code == 200, answer.text
    assert "Step 4 · Review" in answer.text
    assert "New prescription" not in answer.text and "Bridge bolus" not in answer.text
