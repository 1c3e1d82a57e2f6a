"""Where does it hurt? The body map by mouse and by keyboard, the live results panel, and
saving an assessment on a patient's record (browser), plus refused input (HTTP)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.web.support import LiveClinic, patient_id_of, sign_in
from thecal.clinic.access import Actor
from thecal.clinic.service import assessments
from thecal.clinic.storage.models import User


@pytest.fixture
def no_js_page(browser: Browser, live: LiveClinic) -> Iterator[Page]:
    """A tab with JavaScript switched off: the forms must work as plain HTML."""
    context = browser.new_context(base_url=live.url, java_script_enabled=False)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_every_body_map_region_has_a_shape_and_a_labelled_checkbox(page: Page) -> None:
    sign_in(page, "dr.hale")
    page.goto("/pain-map")
    boxes = page.locator("input[data-region-box]")
    shapes = page.locator("svg [data-region]")
    expect(boxes).to_have_count(shapes.count())
    expect(page.get_by_role("checkbox", name="Low back")).to_be_visible()
    expect(page.get_by_role("checkbox", name="Left chest wall")).to_be_visible()


def test_clicking_the_drawing_marks_the_region_and_shows_its_segments(page: Page) -> None:
    sign_in(page, "dr.hale")
    page.goto("/pain-map")
    page.locator('svg [data-region="back.low_back"]').click()
    expect(page.get_by_role("checkbox", name="Low back")).to_be_checked()
    expect(page.locator('svg [data-region="back.low_back"]')).to_have_class(re.compile("selected"))
    results = page.get_by_role("region", name="Segments and catheter tip")
    expect(results.locator(".pain-segments")).to_have_text("L1, L2, L3")
    expect(results.locator(".pain-tip")).to_contain_text("T11")
    expect(results).to_contain_text("not a clinical guideline")
    page.locator('svg [data-region="back.low_back"]').click()
    expect(page.get_by_role("checkbox", name="Low back")).not_to_be_checked()
    expect(results).to_contain_text("Mark where it hurts")


def test_marking_by_keyboard_alone_updates_the_drawing_and_the_panel(page: Page) -> None:
    sign_in(page, "dr.hale")
    page.goto("/pain-map")
    page.get_by_label("Condition").focus()
    for _ in range(60):  # Tab along the boxes until the left chest wall's has focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.value") == "front.chest.left":
            break
    page.keyboard.press("Space")
    expect(page.get_by_role("checkbox", name="Left chest wall")).to_be_checked()
    expect(page.locator('svg [data-region="front.chest.left"]')).to_have_class(
        re.compile("selected")
    )
    expect(page.locator("#pain-results .pain-segments")).to_contain_text("T4")


def test_the_explorer_shows_the_drugs_the_pump_offers_for_a_chosen_condition(page: Page) -> None:
    sign_in(page, "dr.hale")
    page.goto("/pain-map")
    page.get_by_label("Condition").select_option(label="Spasticity in multiple sclerosis")
    expect(page.locator("#pain-results")).to_contain_text("Baclofen")


def test_show_segments_works_without_javascript(no_js_page: Page) -> None:
    page = no_js_page
    sign_in(page, "dr.hale")
    page.goto("/pain-map")
    page.get_by_role("checkbox", name="Low back").check()
    page.get_by_role("button", name="Show segments").click()
    expect(page.locator("#pain-results .pain-segments")).to_have_text("L1, L2, L3")
    expect(page.get_by_role("checkbox", name="Low back")).to_be_checked()


def test_a_saved_assessment_is_on_the_patients_record(page: Page, live: LiveClinic) -> None:
    patient_id = patient_id_of(live, "Petrova")
    sign_in(page, "nurse.okafor")
    page.goto(f"/patients/{patient_id}/pain")
    page.locator('svg [data-region="back.low_back"]').click()
    page.locator('svg [data-region="front.thigh.left"]').click()
    expect(page.locator("#pain-results .pain-segments")).to_contain_text("L1")
    page.get_by_role("radio", name="7", exact=True).check()
    page.get_by_label("Note").fill("worse at night")
    page.get_by_role("button", name="Save assessment").click()
    expect(page.get_by_role("status").filter(has_text="Assessment saved")).to_be_visible()
    with live.clinic.read(Actor.system("test")) as call:
        newest = assessments.list_pain_assessments(call, patient_id)[0]
    assert newest.score == 7
    assert set(newest.regions) == {"back.low_back", "front.thigh.left"}
    assert newest.note == "worse at night"
    assert newest.mapping is not None and "L1" in newest.mapping.segments
    history = page.get_by_role("region", name="Previous assessments")
    expect(history.get_by_role("row").nth(1)).to_contain_text("worse at night")


def test_saving_without_a_score_names_the_field_and_keeps_the_marks(
    page: Page, live: LiveClinic
) -> None:
    patient_id = patient_id_of(live, "Petrova")
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/pain")
    page.get_by_role("checkbox", name="Low back").check()
    page.get_by_label("Note").fill("kept")
    with page.expect_response(re.compile(r"/pain$")) as answer:
        page.get_by_role("button", name="Save assessment").click()
    assert answer.value.status == 422
    expect(page.locator("#score-error")).to_contain_text("score")
    expect(page.get_by_role("checkbox", name="Low back")).to_be_checked()
    expect(page.get_by_label("Note")).to_have_value("kept")
    with live.clinic.read(Actor.system("test")) as call:
        assert all(a.note != "kept" for a in assessments.list_pain_assessments(call, patient_id))


def test_a_score_of_11_is_refused_with_the_accepted_range(page: Page, live: LiveClinic) -> None:
    patient_id = patient_id_of(live, "Petrova")
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/pain")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(
        f"/patients/{patient_id}/pain",
        form={"csrf_token": token or "", "score": "11", "regions": "back.low_back"},
    )
    assert answer.status == 422
    body = answer.text()
    assert "0 (no pain) to 10" in body
    assert re.search(r'data-region-box="back.low_back"\s+checked', body)


def test_live_updates_never_put_the_csrf_token_in_a_url(page: Page, live: LiveClinic) -> None:
    patient_id = patient_id_of(live, "Petrova")
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/pain")
    with page.expect_request(re.compile(r"/pain-map/panel\?")) as sent:
        page.locator('svg [data-region="back.low_back"]').click()
    assert "regions=back.low_back" in sent.value.url
    assert "csrf" not in sent.value.url
    expect(page.locator("#pain-results .pain-segments")).to_have_text("L1, L2, L3")


def _tab_until(page: Page, script: str, limit: int = 120) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(script):
            return
    raise AssertionError(f"Tab never reached: {script}")


def test_an_assessment_is_saved_from_the_keyboard_alone(page: Page, live: LiveClinic) -> None:
    patient_id = patient_id_of(live, "Petrova")
    sign_in(page, "nurse.okafor")
    page.goto(f"/patients/{patient_id}/pain")
    _tab_until(page, "document.activeElement.value === 'back.low_back'")
    page.keyboard.press("Space")
    _tab_until(page, "document.activeElement.name === 'score'")
    for _ in range(6):  # arrows move along the radio group: 0 -> 6
        page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="6", exact=True)).to_be_checked()
    _tab_until(page, "document.activeElement.value === 'save'")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Assessment saved")).to_be_visible()
    with live.clinic.read(Actor.system("test")) as call:
        newest = assessments.list_pain_assessments(call, patient_id)[0]
    assert (newest.score, newest.regions) == (6, ["back.low_back"])


def test_a_patient_records_their_own_pain_on_their_record(page: Page, live: LiveClinic) -> None:
    with live.clinic.read(Actor.system("test")) as call:
        own = call.session.scalars(
            select(User.patient_id).where(User.username == "pat.moreau")
        ).one()
    assert own is not None
    sign_in(page, "pat.moreau")
    page.goto(f"/patients/{own}/pain")
    page.get_by_role("checkbox", name="Low back").check()
    page.get_by_role("radio", name="4", exact=True).check()
    page.get_by_role("button", name="Save assessment").click()
    expect(page.get_by_role("status").filter(has_text="Assessment saved")).to_be_visible()
    with live.clinic.read(Actor.system("test")) as call:
        assert assessments.list_pain_assessments(call, own)[0].score == 4
