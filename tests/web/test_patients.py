"""Patients: the list and search, the new-patient form, the patient page (browser and HTTP)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.support import (
    LiveClinic,
    csrf_of,
    patient_id_of,
    sign_in,
    signed_in_client,
)
from thecal.clinic.access import Actor
from thecal.clinic.service import patients
from thecal.clinic.service.patient_page import patient_page


def test_search_finds_a_patient_by_name_and_opens_their_page(page: Page) -> None:
    sign_in(page, "nurse.okafor")
    page.goto("/patients")
    page.get_by_label("Search by name or MRN").fill("lars")
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_role("region", name=re.compile("Patients matching")).get_by_role("row")
    expect(rows).to_have_count(2)  # header and Larsen
    page.get_by_role("link", name="Larsen, Henrik").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Larsen, Henrik")
    expect(page.get_by_role("heading", level=1)).to_contain_text("high risk")


def test_every_demo_patient_page_renders_with_its_three_charts(live: LiveClinic) -> None:
    with live.clinic.read(Actor.system("test")) as call:
        ids = [p.id for p in patients.list_patients(call).items]
    with signed_in_client(live, "pharm.lind") as client:
        for patient_id in ids:
            answer = client.get(f"/patients/{patient_id}")
            assert answer.status_code == 200, (patient_id, answer.text[:500])
            assert answer.text.count('<figure class="chart-figure"') == 3


def test_a_nurse_creates_a_patient_and_lands_on_their_page(page: Page, live: LiveClinic) -> None:
    sign_in(page, "nurse.okafor")
    page.goto("/patients")
    page.get_by_role("link", name="New patient").click()
    page.get_by_label("MRN").fill("NEW-0001")
    page.get_by_label("Given name").fill("Ada")
    page.get_by_label("Family name").fill("Quist")
    page.get_by_label("Birth date").fill("1970-05-06")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Weight (kg)").fill("64.5")
    page.get_by_label("Diagnosis").select_option(label="Spasticity in multiple sclerosis")
    page.get_by_label("Prior withdrawal").check()
    page.get_by_role("button", name="Create patient").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Quist, Ada")
    expect(page.get_by_text("No pump implanted.")).to_be_visible()
    with live.clinic.read(Actor.system("test")) as call:
        (created,) = patients.list_patients(call, "NEW-0001").items
    assert (created.weight_kg, created.diagnosis.value) == ("64.5", "spasticity_multiple_sclerosis")
    assert created.withdrawal_risk_factors == ["prior_withdrawal"]


def test_bad_input_is_named_per_field_and_nothing_typed_is_lost(live: LiveClinic) -> None:
    with signed_in_client(live, "dr.hale") as client:
        form = client.get("/patients/new")
        answer = client.post(
            "/patients/new",
            data={"csrf_token": csrf_of(form.text), "mrn": "BAD MRN!", "given_name": "Ada",
                  "family_name": "Quist", "birth_date": "1970-05-06", "sex": "female",
                  "weight_kg": "900", "diagnosis": "crps", "note": "keep me"},
        )  # fmt: skip
    assert answer.status_code == 422
    assert 'id="mrn-error"' in answer.text
    assert 'id="weight_kg-error"' in answer.text
    assert "at most 400" in answer.text
    assert 'id="given_name-error"' not in answer.text
    for kept in ('value="BAD MRN!"', 'value="900"', 'value="Quist"', "keep me"):
        assert kept in answer.text
    assert 'value="crps" selected' in answer.text


def test_a_duplicate_mrn_is_refused_on_the_mrn_field(live: LiveClinic) -> None:
    with signed_in_client(live, "dr.hale") as client:
        form = client.get("/patients/new")
        answer = client.post(
            "/patients/new",
            data={"csrf_token": csrf_of(form.text), "mrn": "DEMO-0001", "given_name": "A",
                  "family_name": "B", "birth_date": "1970-05-06", "sex": "male",
                  "diagnosis": "crps"},
        )  # fmt: skip
    assert answer.status_code == 422
    assert re.search(r'id="mrn-error">[^<]*DEMO-0001', answer.text)


def test_a_birth_date_in_the_future_is_refused_with_what_is_accepted(live: LiveClinic) -> None:
    with signed_in_client(live, "dr.hale") as client:
        form = client.get("/patients/new")
        answer = client.post(
            "/patients/new",
            data={"csrf_token": csrf_of(form.text), "mrn": "NEW-2", "given_name": "A",
                  "family_name": "B", "birth_date": "2030-01-01", "sex": "male",
                  "diagnosis": "crps"},
        )  # fmt: skip
    assert answer.status_code == 422
    assert re.search(r'id="birth_date-error">[^<]*accepted: a date from 1900-01-01', answer.text)


def test_the_new_patient_form_works_from_the_keyboard_alone(page: Page, live: LiveClinic) -> None:
    sign_in(page, "dr.hale")
    page.goto("/patients/new")
    # the MRN field has focus on arrival (wait for it: keys typed earlier would go nowhere)
    expect(page.get_by_label("MRN")).to_be_focused()
    keys = page.keyboard
    keys.type("KEY-1")
    keys.press("Tab")
    keys.type("Kim")
    keys.press("Tab")
    keys.type("Board")
    keys.press("Tab")
    keys.type("1980-02-03")
    keys.press("Tab")
    keys.press("ArrowDown")  # sex: female
    keys.press("Tab")
    keys.type("70")
    keys.press("Tab")
    keys.press("ArrowDown")  # diagnosis: the first one
    keys.press("Tab")
    keys.press("Space")  # the first risk factor
    keys.press("Tab")
    keys.press("Tab")
    keys.press("Tab")
    keys.type("typed only")
    keys.press("Tab")
    keys.press("Enter")
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Board, Kim")
    with live.clinic.read(Actor.system("test")) as call:
        (created,) = patients.list_patients(call, "KEY-1").items
    assert created.birth_date.isoformat() == "1980-02-03"
    assert created.withdrawal_risk_factors == ["spinal_cord_injury_t6_or_above"]
    assert created.note == "typed only"


def test_the_patient_page_shows_the_implant_schedule_and_the_prescription(
    page: Page, live: LiveClinic
) -> None:
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id_of(live, 'Larsen')}")
    implant = page.get_by_role("region", name="Current implant")
    expect(implant).to_contain_text("T10")
    expect(implant.locator(".refill-due")).to_contain_text("overdue")
    expect(implant.locator(".refill-due")).to_contain_text("stability")
    prescription = page.get_by_role("region", name="Current prescription")
    expect(prescription).to_contain_text("baclofen")
    expect(prescription).to_contain_text("From 06:00 to 09:00")
    reservoir = page.get_by_role("img", name=re.compile("Reservoir projection"))
    expect(reservoir).to_be_visible()
    expect(reservoir.locator("line.threshold")).to_have_count(1)
    timeline = page.get_by_role("region", name=re.compile("Timeline"))
    expect(timeline.get_by_role("listitem").first).to_contain_text("Refill")


def test_a_chart_s_values_are_readable_as_a_table(page: Page, live: LiveClinic) -> None:
    sign_in(page, "dr.hale")
    page.goto(f"/patients/{patient_id_of(live, 'Moreau')}")
    page.get_by_text("Pain scores over time: the values").click()
    table = page.get_by_role("table", name="Pain scores over time")
    expect(table.get_by_role("row", name=re.compile("2026-11-14"))).to_contain_text("5 /10")


def test_workflow_links_follow_the_role(page: Page, live: LiveClinic) -> None:
    sign_in(page, "pharm.lind")
    page.goto(f"/patients/{patient_id_of(live, 'Larsen')}")
    actions = page.get_by_role("navigation", name="Patient actions")
    expect(actions.get_by_role("link")).to_have_count(0)
    page.goto("/patients")
    expect(page.get_by_role("link", name="New patient")).to_have_count(0)


def test_a_clinician_sees_every_workflow_link_at_its_address(live: LiveClinic) -> None:
    patient_id = patient_id_of(live, "Larsen")
    with signed_in_client(live, "dr.hale") as client:
        html = client.get(f"/patients/{patient_id}").text
        with live.clinic.read(Actor.system("test")) as call:
            implant_id = patient_page(call, patient_id).implant.id  # type: ignore[union-attr]
    for href in (f"/patients/{patient_id}/pain", f"/patients/{patient_id}/candidacy",
                 f"/patients/{patient_id}/implant", f"/implants/{implant_id}/prescription",
                 f"/implants/{implant_id}/refill", f"/pump?implant={implant_id}"):  # fmt: skip
        assert f'href="{href}"' in html


def test_a_patient_may_not_list_patients(live: LiveClinic) -> None:
    with signed_in_client(live, "pat.moreau") as client:
        assert client.get("/patients").status_code == 403
        assert client.get("/patients/new").status_code == 403


def test_the_timeline_runs_newest_first_and_holds_every_kind_of_visit(live: LiveClinic) -> None:
    with signed_in_client(live, "dr.hale") as client:
        html = client.get(f"/patients/{patient_id_of(live, 'Moreau')}").text
    timeline = html[html.index('<ol class="timeline">') :]
    moments = re.findall(r'<time datetime="([^"]+)"', timeline)
    assert moments == sorted(moments, reverse=True)
    kinds = ("Refill", "Interrogation", "Prescription", "Pain assessment", "Appointment",
             "Screening", "Trial")  # fmt: skip
    for kind in kinds:
        assert f'<span class="tag">{kind}</span>' in timeline


def test_the_dose_chart_reads_in_the_drugs_display_unit(live: LiveClinic) -> None:
    with signed_in_client(live, "dr.hale") as client:
        morphine = client.get(f"/patients/{patient_id_of(live, 'Moreau')}").text
        baclofen = client.get(f"/patients/{patient_id_of(live, 'Larsen')}").text
    assert "Daily dose (mg/day)" in morphine
    assert "Daily dose (mcg/day)" in baclofen


def test_a_chart_without_data_says_so_instead_of_drawing(live: LiveClinic) -> None:
    with signed_in_client(live, "dr.hale") as client:
        html = client.get(f"/patients/{patient_id_of(live, 'Petrova')}").text
    for chart_id in ("dose-chart", "reservoir-chart"):  # not implanted: nothing to draw
        figure = html[html.index(f'id="{chart_id}"') :].split("</figure>")[0]
        assert "No data yet." in figure
        assert "<svg" not in figure


def test_a_patient_may_not_create_a_patient_even_with_a_valid_form(live: LiveClinic) -> None:
    with signed_in_client(live, "pat.moreau") as client:
        answer = client.post(
            "/patients/new",
            data={"csrf_token": csrf_of(client.get("/me").text), "mrn": "PAT-1",
                  "given_name": "A", "family_name": "B", "birth_date": "1970-01-01",
                  "sex": "male", "diagnosis": "crps"},
        )  # fmt: skip
    assert answer.status_code == 403
    with live.clinic.read(Actor.system("test")) as call:
        assert patients.list_patients(call, "PAT-1").total == 0
