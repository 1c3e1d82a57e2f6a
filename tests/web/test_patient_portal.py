"""The patient's own view at /me: their refill, pump, prescription and pain diary, and
nobody else's record."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.support import LiveClinic, csrf_of, patient_id_of, sign_in, signed_in_client
from thecal.clinic.access import Actor
from thecal.clinic.service import assessments


def _scores(live: LiveClinic, patient_id: int) -> list[tuple[int | None, str]]:
    with live.clinic.read(Actor.system("test")) as call:
        return [(a.score, a.note) for a in assessments.list_pain_assessments(call, patient_id)]


def test_a_patient_lands_on_their_own_pump_refill_and_prescription(page: Page) -> None:
    sign_in(page, "pat.moreau")
    expect(page).to_have_url(re.compile(r"/me$"))
    expect(page.get_by_role("region", name="Next refill")).to_contain_text("2026-12-11")
    pump = page.get_by_role("region", name="My pump")
    expect(pump).to_contain_text("12.7 mL")
    expect(pump).to_contain_text("normal")
    expect(page.get_by_role("region", name="My prescription")).to_contain_text(
        "A steady 4 mg/day, all day."
    )


def test_a_patient_adds_todays_pain_score_to_their_diary(page: Page, live: LiveClinic) -> None:
    sign_in(page, "pat.moreau")
    diary = page.get_by_role("region", name="My pain diary")
    diary.get_by_label("6", exact=True).check()
    diary.get_by_label("Note").fill("worse after walking")
    diary.get_by_role("button", name="Save today's score").click()
    expect(page.get_by_role("status").filter(has_text="saved")).to_be_visible()
    first = page.get_by_role("table", name="My recent scores").get_by_role("row").nth(1)
    expect(first).to_contain_text("6/10")
    expect(first).to_contain_text("worse after walking")
    assert _scores(live, patient_id_of(live, "Moreau"))[0] == (6, "worse after walking")


def test_the_pain_diary_works_from_the_keyboard_alone(page: Page, live: LiveClinic) -> None:
    sign_in(page, "pat.moreau")
    page.get_by_label("0", exact=True).focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # 2
    page.keyboard.press("Tab")
    page.keyboard.type("by keyboard")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="saved")).to_be_visible()
    assert _scores(live, patient_id_of(live, "Moreau"))[0] == (2, "by keyboard")


def test_a_diary_entry_without_a_score_is_refused_and_the_note_is_kept(live: LiveClinic) -> None:
    patient_id = patient_id_of(live, "Moreau")
    before = _scores(live, patient_id)
    with signed_in_client(live, "pat.moreau") as client:
        form = client.get("/me")
        answer = client.post("/me/pain", data={"csrf_token": csrf_of(form.text), "note": "hm"})
    assert answer.status_code == 422
    assert 'id="score-error"' in answer.text
    assert ">hm</textarea>" in answer.text
    assert _scores(live, patient_id) == before


def test_a_score_above_ten_is_refused(live: LiveClinic) -> None:
    with signed_in_client(live, "pat.moreau") as client:
        form = client.get("/me")
        answer = client.post("/me/pain", data={"csrf_token": csrf_of(form.text), "score": "11"})
    assert answer.status_code == 422
    assert re.search(r'id="score-error"[^>]*>[^<]*0 \(no pain\) to 10', answer.text)


def test_a_patient_never_sees_another_patients_page(live: LiveClinic) -> None:
    other = patient_id_of(live, "Larsen")
    with signed_in_client(live, "pat.moreau") as client:
        answer = client.get(f"/patients/{other}")
        assert answer.status_code in (403, 404)
        assert "Larsen" not in answer.text
        assert client.get(f"/patients/{other + 1000}").status_code in (403, 404)


def test_staff_are_sent_from_the_patient_view_to_the_dashboard(live: LiveClinic) -> None:
    with signed_in_client(live, "nurse.okafor") as client:
        answer = client.get("/me", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"


def test_a_patient_opening_their_own_record_is_shown_their_own_view(live: LiveClinic) -> None:
    own = patient_id_of(live, "Moreau")
    with signed_in_client(live, "pat.moreau") as client:
        answer = client.get(f"/patients/{own}", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/me"
