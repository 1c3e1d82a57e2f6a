"""The prescription editor: live chart and verdicts, reasons for warnings, refusals that
cannot be saved, the side-by-side review, saving through the service, bad input.

Demo: Larsen, Henrik has the baclofen flex schedule (00:00 450, 06:00 500, 09:00 350,
14:00 300, 20:00 400 mcg/day: 389.58 mcg/day); Moreau, Colette has morphine 4 mg/day
with patient boluses. Baclofen titration steps: soft 15 %, hard 30 % (site defaults);
daily hard limit 2000 mcg/day.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from playwright.sync_api import Page, expect

from tests.web.support import PASSWORDS, LiveClinic, sign_in
from thecal.clinic.access import Actor
from thecal.clinic.service import implants, patients, prescriptions

LARSEN_STEPS = [
    ("00:00", "450 mcg/day"),
    ("06:00", "500 mcg/day"),
    ("09:00", "350 mcg/day"),
    ("14:00", "300 mcg/day"),
    ("20:00", "400 mcg/day"),
]


def implant_of(live: LiveClinic, family_name: str) -> int:
    """The active implant of the demo patient with this family name."""
    with live.clinic.read(Actor.system("test")) as call:
        found = patients.list_patients(call, family_name).items
        implant = implants.active_implant(call, found[0].id)
        assert implant is not None
        return implant.id


def current(live: LiveClinic, implant_id: int) -> prescriptions.PrescriptionView:
    with live.clinic.read(Actor.system("test")) as call:
        view = prescriptions.current_prescription(call, implant_id)
    assert view is not None
    return view


@dataclass
class Editor:
    """The editor's form posted over plain HTTP by a signed-in user (no browser)."""

    client: httpx.Client
    token: str

    def post(self, implant: int, form: Mapping[str, str | list[str]]) -> httpx.Response:
        path = f"/implants/{implant}/prescription"
        return self.client.post(path, data={**form, "csrf_token": self.token})


@contextmanager
def signed_in(live: LiveClinic, username: str) -> Iterator[Editor]:
    """Signed in through the sign-in form; the CSRF token the pages carry."""
    with httpx.Client(base_url=live.url) as client:
        page = client.get("/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        client.post(
            "/sign-in",
            data={"username": username, "password": PASSWORDS[username],
                  "csrf_token": token.group(1)},
        )  # fmt: skip
        assert "thecal_session" in client.cookies
        yield Editor(client, token.group(1))


def flex_form(
    action: str, steps: list[tuple[str, str]], **extra: str
) -> dict[str, str | list[str]]:
    return {
        "action": action,
        "drug": "baclofen",
        "concentration": "500 mcg/mL",
        "mode": "flex",
        "step_start": [start for start, _ in steps],
        "step_rate": [rate for _, rate in steps],
        **extra,
    }


def with_step(index: int, rate: str) -> list[tuple[str, str]]:
    steps = list(LARSEN_STEPS)
    steps[index] = (steps[index][0], rate)
    return steps


# --- in the browser ---------------------------------------------------------------------


def test_editing_a_flex_step_redraws_the_chart_and_rejudges_it_as_you_type(
    page: Page, live: LiveClinic
) -> None:
    implant = implant_of(live, "Larsen")
    sign_in(page, "dr.hale")
    page.goto(f"/implants/{implant}/prescription")
    chart = page.get_by_role("img", name=re.compile("Dose rate over 24 hours"))
    expect(chart).to_have_accessible_name(re.compile("Pending: 00:00–06:00 450 mcg/day"))
    expect(page.locator(".rx-summary")).to_contain_text("Allowed")

    page.get_by_label("Step 1 dose rate").fill("700 mcg/day")  # +62.5 mcg/day: > 15 %

    expect(chart).to_have_accessible_name(re.compile("Pending: 00:00–06:00 700 mcg/day"))
    expect(chart).to_have_accessible_name(re.compile(r"Current \(dashed\): 00:00–06:00 450"))
    expect(page.locator("#rx-daily-dose")).to_have_text("≈ 452.08 mcg/day")
    warning = page.locator(".verdict.warning", has_text="titration step")
    expect(warning).to_contain_text("soft titration step 15 %")
    expect(warning).to_contain_text("site default: configurable")
    expect(page.get_by_label("Reason to override titration step")).to_be_visible()


def test_adding_a_step_row_keeps_every_entry_and_charts_the_new_step(
    page: Page, live: LiveClinic
) -> None:
    implant = implant_of(live, "Larsen")
    sign_in(page, "dr.hale")
    page.goto(f"/implants/{implant}/prescription")
    page.get_by_label("Step 2 dose rate").fill("520 mcg/day")
    page.get_by_role("button", name="Add a step").click()

    expect(page.get_by_label("Step 6 starts at")).to_be_focused()
    expect(page.get_by_label("Step 2 dose rate")).to_have_value("520 mcg/day")
    page.keyboard.type("22:00")
    page.get_by_label("Step 6 dose rate").fill("200 mcg/day")
    chart = page.get_by_role("img", name=re.compile("Dose rate over 24 hours"))
    expect(chart).to_have_accessible_name(re.compile("22:00–24:00 200 mcg/day"))

    page.get_by_role("button", name="Remove step 6").click()
    expect(page.get_by_label("Step 6 starts at")).to_have_count(0)
    expect(page.get_by_label("Step 2 dose rate")).to_have_value("520 mcg/day")


def test_a_dose_over_a_soft_limit_saves_only_with_a_stated_reason(
    page: Page, live: LiveClinic
) -> None:
    implant = implant_of(live, "Larsen")
    before = current(live, implant)
    sign_in(page, "dr.hale")
    page.goto(f"/implants/{implant}/prescription")
    page.get_by_label("Step 1 dose rate").fill("700 mcg/day")
    page.get_by_role("button", name="Review", exact=True).click()

    page.get_by_role("button", name="Save prescription").click()
    expect(page.get_by_role("alert")).to_contain_text("a reason is needed to override")
    reason = page.get_by_label("Reason to override titration step")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#reason-titration_step-error")).to_contain_text(
        "override_reasons.titration_step"
    )
    assert current(live, implant).id == before.id

    reason.fill("spasms at night despite the current dose")
    page.get_by_role("button", name="Save prescription").click()
    expect(page.get_by_role("heading", name=re.compile("Prescription saved"))).to_be_visible()
    saved = current(live, implant)
    assert saved.id != before.id
    assert saved.override_reasons == {"titration_step": "spasms at night despite the current dose"}
    expect(page.locator("#rx-content-hash")).to_have_text(saved.content_hash)
    expect(page.get_by_role("link", name="Send to the pump")).to_have_attribute(
        "href", f"/pump?implant={implant}"
    )


def test_a_dose_over_a_hard_limit_is_refused_and_offers_no_save(
    page: Page, live: LiveClinic
) -> None:
    implant = implant_of(live, "Larsen")
    sign_in(page, "dr.hale")
    page.goto(f"/implants/{implant}/prescription")
    page.get_by_label("Simple continuous").check()
    page.get_by_label("Dose rate", exact=True).fill("2500 mcg/day")

    refusal = page.locator(".verdict.refused", has_text="daily dose")
    expect(refusal).to_contain_text("value 2500 mcg/day")
    expect(refusal).to_contain_text("bound 2000 mcg/day")
    expect(page.locator(".rx-summary")).to_contain_text("cannot be saved")

    page.get_by_role("button", name="Review", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("Review the prescription"))).to_be_visible()
    expect(page.get_by_role("button", name="Save prescription")).to_have_count(0)
    expect(page.get_by_role("button", name="Back to editing")).to_be_visible()


def test_review_shows_pending_and_current_side_by_side_with_changes_marked(
    page: Page, live: LiveClinic
) -> None:
    implant = implant_of(live, "Larsen")
    before = current(live, implant)
    sign_in(page, "dr.hale")
    page.goto(f"/implants/{implant}/prescription")
    page.get_by_label("Step 2 dose rate").fill("550 mcg/day")
    page.get_by_role("button", name="Review", exact=True).click()

    table = page.get_by_role("table")
    changed = table.get_by_role("row", name=re.compile("flex step from 06:00"))
    expect(changed).to_have_class("changed")
    expect(changed.get_by_role("cell").nth(0)).to_have_text("500 mcg/day")
    expect(changed.get_by_role("cell").nth(1)).to_contain_text("550 mcg/day")
    unchanged = table.get_by_role("row", name=re.compile("flex step from 00:00"))
    expect(unchanged).not_to_have_class("changed")
    assert current(live, implant).id == before.id  # reviewing saves nothing
    # Back to editing keeps what was typed.
    page.get_by_role("button", name="Back to editing").click()
    expect(page.get_by_label("Step 2 dose rate")).to_have_value("550 mcg/day")


def test_a_simple_continuous_dose_can_be_edited_and_saved_by_keyboard_alone(
    page: Page, live: LiveClinic
) -> None:
    implant = implant_of(live, "Moreau")
    sign_in(page, "dr.hale")
    page.goto(f"/implants/{implant}/prescription")
    rate = page.get_by_label("Dose rate", exact=True)
    for _ in range(30):
        if rate.evaluate("element => element === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(rate).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("4.4 mg/day")
    page.keyboard.press("Enter")  # the form's default action is Review

    expect(page.get_by_role("heading", name=re.compile("Review the prescription"))).to_be_visible()
    save = page.get_by_role("button", name="Save prescription")
    for _ in range(40):
        if save.evaluate("element => element === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(save).to_be_focused()
    page.keyboard.press("Space")

    expect(page.get_by_role("heading", name=re.compile("Prescription saved"))).to_be_visible()
    saved = current(live, implant)
    assert saved.daily_dose == "4.4 mg/day"
    assert "[patient_bolus]" in saved.toml  # the settings not edited were kept


# --- over HTTP --------------------------------------------------------------------------


def test_bad_entries_get_per_field_errors_and_are_kept(live: LiveClinic) -> None:
    implant = implant_of(live, "Larsen")
    steps = [("00:00", "450 mcg/day"), ("09:00", "abc mg/day"), ("06:00", "5 mg/fortnight")]
    with signed_in(live, "dr.hale") as editor:
        answer = editor.post(implant, flex_form("review", steps))
    assert answer.status_code == 422
    html = answer.text
    assert re.search(r'id="f-steps-1-rate-error">steps\[1\]\.rate: [^<]*abc', html)
    assert re.search(r'id="f-steps-2-rate-error">steps\[2\]\.rate: [^<]*fortnight', html)
    assert 'value="abc mg/day"' in html
    assert 'value="5 mg/fortnight"' in html
    assert 'id="f-steps-1-rate" name="step_rate" value="abc mg/day"' in html


def test_unsorted_step_times_are_named_at_the_steps(live: LiveClinic) -> None:
    implant = implant_of(live, "Larsen")
    steps = [("00:00", "450 mcg/day"), ("09:00", "350 mcg/day"), ("06:00", "500 mcg/day")]
    with signed_in(live, "dr.hale") as editor:
        answer = editor.post(implant, flex_form("review", steps))
    assert answer.status_code == 422
    assert re.search(r'id="f-steps-error">steps: start times must increase \(09:00 then 06:00\)',
                     answer.text)  # fmt: skip
    assert 'value="06:00"' in answer.text


def test_more_steps_than_a_prescription_holds_is_a_field_error(live: LiveClinic) -> None:
    implant = implant_of(live, "Larsen")
    steps = [
        (f"{minute // 60:02d}:{minute % 60:02d}", "400 mcg/day") for minute in range(0, 49 * 20, 20)
    ]
    with signed_in(live, "dr.hale") as editor:
        answer = editor.post(implant, flex_form("review", steps))
        more = editor.post(implant, flex_form("add_step", steps[:48]))
    assert answer.status_code == 422
    assert 'id="f-steps-error">steps: at most 48 steps' in answer.text
    assert 'id="f-steps-48-start"' in answer.text  # all 49 rows shown again
    assert more.status_code == 422
    assert 'id="f-steps-47-start"' in more.text
    assert 'id="f-steps-48-start"' not in more.text


def test_the_server_refuses_a_warning_without_a_reason_naming_the_field(
    live: LiveClinic,
) -> None:
    implant = implant_of(live, "Larsen")
    before = current(live, implant)
    form = flex_form("save", with_step(0, "700 mcg/day"), replaces=str(before.id))
    with signed_in(live, "dr.hale") as editor:
        answer = editor.post(implant, form)
    assert answer.status_code == 422
    assert "override_reasons.titration_step: a reason is required" in answer.text
    assert current(live, implant).id == before.id


def test_the_server_refuses_to_save_a_refused_prescription(live: LiveClinic) -> None:
    implant = implant_of(live, "Larsen")
    before = current(live, implant)
    form = {
        "action": "save", "drug": "baclofen", "concentration": "500 mcg/mL",
        "mode": "simple_continuous", "rate": "2500 mcg/day",
        "reason_daily_dose": "trying anyway", "replaces": str(before.id),
    }  # fmt: skip
    with signed_in(live, "dr.hale") as editor:
        answer = editor.post(implant, form)
    assert answer.status_code == 422
    assert "refused by daily_dose" in answer.text
    assert 'value="save"' not in answer.text
    assert current(live, implant).id == before.id


def test_a_nurse_may_check_a_prescription_but_the_service_refuses_her_save(
    live: LiveClinic,
) -> None:
    implant = implant_of(live, "Larsen")
    before = current(live, implant)
    form = flex_form("save", with_step(1, "520 mcg/day"), replaces=str(before.id))
    with signed_in(live, "nurse.okafor") as nurse:
        page = nurse.client.get(f"/implants/{implant}/prescription")
        review = nurse.post(implant, {**form, "action": "review"})
        saved = nurse.post(implant, form)
    assert page.status_code == 200
    assert "saving one needs a prescriber" in page.text
    assert review.status_code == 200
    assert 'value="save"' not in review.text
    assert saved.status_code == 403
    assert current(live, implant).id == before.id


def test_a_prescription_changed_meanwhile_sends_the_prescriber_back_to_review(
    live: LiveClinic,
) -> None:
    implant = implant_of(live, "Larsen")
    form = flex_form("save", with_step(1, "520 mcg/day"), replaces="1")
    with signed_in(live, "dr.hale") as editor:
        answer = editor.post(implant, form)
    assert answer.status_code == 409
    assert "someone else changed it meanwhile" in answer.text
    assert f'name="replaces" value="{current(live, implant).id}"' in answer.text


def test_bad_patient_bolus_settings_are_named_field_by_field(live: LiveClinic) -> None:
    implant = implant_of(live, "Moreau")
    form = {
        "action": "review", "drug": "morphine", "concentration": "10 mg/mL",
        "mode": "simple_continuous", "rate": "4 mg/day", "patient_bolus": "on",
        "pb_dose": "0.2 mg", "pb_duration": "10 min", "pb_lockout": "3 h", "pb_max": "many",
    }  # fmt: skip
    with signed_in(live, "dr.hale") as editor:
        answer = editor.post(implant, form)
        short = editor.post(implant, {**form, "pb_max": "4", "pb_lockout": "5 min"})
    assert answer.status_code == 422
    assert re.search(
        r'id="f-patient_bolus-max_per_24h-error">patient_bolus.max_per_24h: must be a whole',
        answer.text,
    )
    assert 'value="many"' in answer.text
    assert short.status_code == 422
    assert re.search(
        r'id="f-patient_bolus-lockout-error">patient_bolus.lockout: 5 min is shorter', short.text
    )
