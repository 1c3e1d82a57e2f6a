"""Candidacy and trial: the screening checklist and the trial, with the rules' verdict
shown live and after saving; refused input keeps what was typed; only a clinician records."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.web.support import LiveClinic, patient_id_of, sign_in
from thecal.clinic.access import Actor
from thecal.clinic.service import candidacy
from thecal.clinic.storage.models import User


def _trials(live: LiveClinic, patient_id: int) -> list[candidacy.TrialView]:
    with live.clinic.read(Actor.system("test")) as call:
        return candidacy.list_trials(call, patient_id)


def _fill_trial(page: Page, baseline: str, post: str) -> None:
    page.get_by_label("Method").select_option(label="Single shot (bolus)")
    page.get_by_label("Drug").select_option("morphine")
    page.get_by_label("Dose").fill("100 mcg")
    page.get_by_label("Baseline pain score").fill(baseline)
    page.get_by_label("Post-trial pain score").fill(post)


def test_the_page_shows_the_candidates_previous_screening_and_trial(
    page: Page, live: LiveClinic
) -> None:
    patient_id = patient_id_of(live, "Petrova")
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/candidacy")
    expect(page.get_by_role("heading", name=re.compile("Candidacy and trial"))).to_contain_text(
        "Petrova, Nadia"
    )
    screening = page.get_by_role("region", name="Screening", exact=True)
    expect(screening.locator(".candidacy-history li")).not_to_have_count(0)
    trials = page.get_by_role("region", name="Screening trial")
    expect(trials.locator(".candidacy-history li").first).to_contain_text("relief")


def test_a_passing_trial_is_previewed_live_and_recorded_as_a_success(
    page: Page, live: LiveClinic
) -> None:
    patient_id = patient_id_of(live, "Petrova")
    before = len(_trials(live, patient_id))
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/candidacy")
    _fill_trial(page, "8", "4")
    verdict = page.locator("#trial-verdict")
    expect(verdict).to_contain_text("Trial verdict: success")
    expect(verdict).to_contain_text("50 % relief")
    page.get_by_role("button", name="Record trial").click()
    expect(page.get_by_role("status").filter(has_text="Trial recorded")).to_be_visible()
    trials = _trials(live, patient_id)
    assert len(trials) == before + 1
    assert trials[0].success is True and trials[0].baseline_pain == 8
    expect(page.locator(".candidacy-history li").filter(has_text="8 → 4").first).to_contain_text(
        "success"
    )


def test_a_failing_trial_is_previewed_and_recorded_as_not_a_success(
    page: Page, live: LiveClinic
) -> None:
    patient_id = patient_id_of(live, "Petrova")
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/candidacy")
    _fill_trial(page, "8", "5")
    expect(page.locator("#trial-verdict")).to_contain_text("Trial verdict: not a success")
    expect(page.locator("#trial-verdict")).to_contain_text("37 % relief")
    page.get_by_role("button", name="Record trial").click()
    expect(page.get_by_role("status").filter(has_text="Trial recorded")).to_be_visible()
    newest = _trials(live, patient_id)[0]
    assert newest.success is False and newest.post_pain == 5


def test_a_spasticity_trial_is_judged_by_the_ashworth_drop(page: Page, live: LiveClinic) -> None:
    patient_id = patient_id_of(live, "Larsen")
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/candidacy")
    page.get_by_label("Baseline Ashworth grade").select_option("3")
    page.get_by_label("Post-trial Ashworth grade").select_option("1+")
    expect(page.locator("#trial-verdict")).to_contain_text("below the 2-point criterion")
    page.get_by_label("Post-trial Ashworth grade").select_option("1")
    expect(page.locator("#trial-verdict")).to_contain_text("Trial verdict: success")


def test_missing_trial_fields_are_named_and_nothing_typed_is_lost(
    page: Page, live: LiveClinic
) -> None:
    patient_id = patient_id_of(live, "Petrova")
    before = len(_trials(live, patient_id))
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/candidacy")
    page.get_by_label("Dose").fill("100 mcg")
    page.get_by_label("Baseline pain score").fill("9")
    with page.expect_response(re.compile(r"/candidacy/trial$")) as answer:
        page.get_by_role("button", name="Record trial").click()
    assert answer.value.status == 422
    expect(page.locator("#method-error")).to_be_visible()
    expect(page.locator("#drug-error")).to_be_visible()
    expect(page.get_by_label("Dose")).to_have_value("100 mcg")
    expect(page.get_by_label("Baseline pain score")).to_have_value("9")
    assert len(_trials(live, patient_id)) == before


def test_a_post_trial_score_of_11_is_refused_naming_the_accepted_range(
    page: Page, live: LiveClinic
) -> None:
    patient_id = patient_id_of(live, "Petrova")
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/candidacy")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    answer = page.request.post(
        f"/patients/{patient_id}/candidacy/trial",
        form={
            "csrf_token": token,
            "method": "single_shot",
            "drug": "morphine",
            "dose": "100 mcg",
            "baseline_pain": "8",
            "post_pain": "11",
        },
    )
    assert answer.status == 422
    body = answer.text()
    assert 'id="post_pain-error"' in body and "a whole number from 0 to 10" in body
    assert 'value="11"' in body


def test_a_screening_is_recorded_with_its_verdict_and_who_decided(
    page: Page, live: LiveClinic
) -> None:
    patient_id = patient_id_of(live, "Petrova")
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/candidacy")
    for label in (
        "Conservative therapies have been tried",
        "No other surgical option",
        "No active untreated addiction",
        "No infection",
        "Body size adequate for the pump",
    ):
        page.get_by_label(label).check()
    page.get_by_label("Favourable", exact=True).check()
    verdict = page.locator("#screening-verdict")
    expect(verdict).to_contain_text("not eligible")
    expect(verdict).to_contain_text("implant depth")
    page.get_by_label("Implant depth adequate").check()
    expect(verdict).to_contain_text("Screening verdict: eligible")
    page.get_by_role("button", name="Record screening").click()
    expect(page.get_by_role("status").filter(has_text="Screening recorded")).to_be_visible()
    with live.clinic.read(Actor.system("test")) as call:
        newest = candidacy.list_screenings(call, patient_id)[0]
    assert newest.eligible is True
    expect(page.locator(".candidacy-history li").first).to_contain_text("dr.hale")


def test_the_screening_form_works_from_the_keyboard_alone(page: Page, live: LiveClinic) -> None:
    patient_id = patient_id_of(live, "Petrova")
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/candidacy")
    page.get_by_label("Conservative therapies have been tried").focus()
    for _ in range(6):  # the six criteria, in order
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
    page.keyboard.press("Space")  # the first psychological evaluation choice: favourable
    expect(page.get_by_label("Favourable", exact=True)).to_be_checked()
    expect(page.locator("#screening-verdict")).to_contain_text("Screening verdict: eligible")
    page.get_by_role("button", name="Record screening").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Screening recorded")).to_be_visible()


def test_a_pharmacist_cannot_record_a_screening(page: Page, live: LiveClinic) -> None:
    patient_id = patient_id_of(live, "Petrova")
    sign_in(page, "pharm.lind")
    page.goto(f"/patients/{patient_id}/candidacy")
    expect(page.get_by_role("button", name="Record screening")).to_have_count(0)
    token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    answer = page.request.post(
        f"/patients/{patient_id}/candidacy/screening",
        form={"csrf_token": token, "psychological_evaluation": "favourable"},
    )
    assert answer.status == 403


def test_a_patient_cannot_record_a_screening_even_their_own(page: Page, live: LiveClinic) -> None:
    sign_in(page, "pat.moreau")
    with live.clinic.read(Actor.system("test")) as call:
        own = call.session.scalars(
            select(User.patient_id).where(User.username == "pat.moreau")
        ).one()
    page.goto(f"/patients/{own}/candidacy")
    expect(page.get_by_role("button", name="Record screening")).to_have_count(0)
    token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    answer = page.request.post(
        f"/patients/{own}/candidacy/screening",
        form={"csrf_token": token, "psychological_evaluation": "favourable"},
    )
    assert answer.status == 403


def test_the_live_trial_verdict_sends_only_the_scores(page: Page, live: LiveClinic) -> None:
    patient_id = patient_id_of(live, "Petrova")
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id}/candidacy")
    with page.expect_request(re.compile(r"/trial-verdict\?")) as sent:
        page.get_by_label("Baseline pain score").fill("6")
    assert "baseline_pain=6" in sent.value.url
    assert "csrf" not in sent.value.url
