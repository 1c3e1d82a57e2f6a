"""The demo system: a demo clinic whose pump twins match its records and share its
accelerated clock, kept in one directory across restarts.

Each test opens its own demo directory from the suite's seeded demo database (no
reseeding) with an injected wall clock that moves only when the test says, so simulated
time is exact: nothing here waits on the real clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.clinic.support import SETTINGS
from tests.web.support import DEMO_NOW
from thecal.clinic.access import Actor
from thecal.clinic.service import patients, prescriptions, refills
from thecal.clinic.storage.models import Implant, Patient
from thecal.link.controller import ControllerLink, identify
from thecal.link.keys import DeviceSecret
from thecal.link.transports.tcp import TcpChannel, parse_address
from thecal.programmer.clinician import interrogate
from thecal.programmer.connection import TCP_RETRY, connect_tcp
from thecal.programmer.home import ControllerHome, PumpPairing
from thecal.pump.payloads import BatteryState, InterrogationReport
from thecal.therapy.quantities import Concentration, Volume
from thecal.therapy.units import format_quantity, parse_volume
from thecal.web.demo_system import (
    MARKER_FILE,
    ClockAnchor,
    DemoSystem,
    ImplantRecord,
    battery_charge_at,
    twin_plan,
    wipe_demo_directory,
)
from thecal.web.pumps import PumpInReach

SPEED = 60.0
ACTOR = Actor.system("demo test")
LOCAL_NOW = DEMO_NOW.replace(tzinfo=None)
"""The demo clinic is in UTC: its pumps' clocks read the same time, without the zone."""


class Wall:
    """A wall clock (seconds) that moves only when the test moves it."""

    def __init__(self) -> None:
        self.seconds = 1_000_000.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def wall() -> Wall:
    return Wall()


def open_demo(directory: Path, template: Path, wall: Wall, speed: float = SPEED) -> DemoSystem:
    return DemoSystem.open(
        directory, speed=speed, start=DEMO_NOW, settings=SETTINGS, template=template, wall=wall
    )


@pytest.fixture
def system(demo_template: Path, tmp_path: Path, wall: Wall) -> Iterator[DemoSystem]:
    with open_demo(tmp_path / "demo", demo_template, wall) as opened:
        yield opened


def pair_and_interrogate(station_home: Path, pump: PumpInReach) -> InterrogationReport:
    """What a clinician's programmer does with the implant card: pair with the device
    secret while the pairing window is open, then interrogate over the secure link."""
    home = ControllerHome(station_home)
    if pump.serial not in home.pairings():
        assert pump.device_secret is not None
        host, port = parse_address(pump.address)
        channel = TcpChannel(host, port)
        try:
            identity = identify(channel, TCP_RETRY)
            pairing_link = ControllerLink(channel, home.key(), identity.public_key,
                                          identity.serial, retry=TCP_RETRY,
                                          hello_clock=home.next_hello,
                                          credential=home.credential())  # fmt: skip
            welcome = pairing_link.pair(DeviceSecret.parse(pump.device_secret), "demo test")
        finally:
            channel.close()
        home.save_pairing(PumpPairing(identity.serial, identity.model, identity.public_key,
                                      pump.address, welcome.role))  # fmt: skip
    link = connect_tcp(home, home.pairing(pump.serial))
    try:
        return interrogate(link)
    finally:
        link.close()


def implant_id(system: DemoSystem, serial: str) -> int:
    with system.clinic.read(ACTOR) as call:
        found = call.session.scalar(select(Implant.id).where(Implant.serial == serial))
    assert found is not None
    return int(found)


def expected_now(system: DemoSystem, serial: str) -> Volume:
    """The clinic's expected reservoir content now, as the refill page shows it."""
    with system.clinic.read(ACTOR) as call:
        view = refills.refill_expectation(call, implant_id(system, serial))
    assert view is not None
    return parse_volume(view.expected.removeprefix("≈").strip(), "expected")


def add_a_patient(system: DemoSystem) -> None:
    form = patients.PatientForm.model_validate(
        {
            "mrn": "DEMO-9999",
            "given_name": "Ada",
            "family_name": "Test",
            "birth_date": "1970-01-01",
            "sex": "female",
            "weight_kg": "60",
            "diagnosis": "cancer_pain",
        }
    )
    system.clinic.perform(ACTOR, lambda call: patients.create_patient(call, form))


def patient_count(system: DemoSystem) -> int:
    with system.clinic.read(ACTOR) as call:
        return len(call.session.scalars(select(Patient.id)).all())


# -- the plan: from the clinic's record to a twin (pure) --------------------------------------

RECORD = ImplantRecord(
    patient="Owen Price",
    model="peristaltic-40",
    serial="PER40-1",
    implanted_at=DEMO_NOW - timedelta(days=1000),
    battery_eri_at=DEMO_NOW + timedelta(days=1000),
    drug="baclofen",
    concentration=Concentration.from_mcg_per_ml(500),
    expected_reservoir=Volume(Fraction(123456789, 10**7)),  # 12.3456789 mL
    prescription=None,
    at=DEMO_NOW,
)


def test_the_twin_is_filled_to_the_expected_content_truncated_to_a_microlitre() -> None:
    plan = twin_plan(RECORD, "UTC")
    assert plan is not None and plan.fill == Volume.from_ml("12.345")


def test_the_twin_never_holds_more_than_its_reservoir() -> None:
    plan = twin_plan(replace(RECORD, expected_reservoir=Volume.from_ml(45)), "UTC")
    assert plan is not None and plan.fill == Volume.from_ml(40)


def test_the_twin_keeps_the_clinic_serial_model_drug_and_a_primed_fluid_path() -> None:
    plan = twin_plan(RECORD, "UTC")
    assert plan is not None
    assert (plan.serial, plan.model, plan.drug) == ("PER40-1", "peristaltic-40", "baclofen")
    assert plan.concentration == RECORD.concentration and plan.primed


def test_the_twin_clock_reads_the_clinic_local_time_without_a_zone() -> None:
    plan = twin_plan(RECORD, "Europe/Oslo")
    assert plan is not None and plan.start == LOCAL_NOW + timedelta(hours=1)  # CET in November


def test_a_constant_flow_pump_has_no_telemetry_so_no_twin() -> None:
    assert twin_plan(replace(RECORD, model="constant-flow-30"), "UTC") is None


@pytest.mark.parametrize(
    ("days_since_implant", "charge"),
    [
        (0, Fraction(1)),
        (500, Fraction(1, 2) + Fraction(1, 2) * Fraction(1, 10)),
        (1000, Fraction(1, 10)),
    ],
)
def test_the_battery_runs_down_linearly_from_full_at_implant_to_eri_level_at_the_eri_date(
    days_since_implant: int, charge: Fraction
) -> None:
    implanted = DEMO_NOW - timedelta(days=days_since_implant)
    eri = implanted + timedelta(days=1000)
    assert battery_charge_at(implanted, eri, DEMO_NOW, Fraction(1, 10)) == charge


def test_a_pump_past_its_recorded_eri_starts_below_the_eri_level() -> None:
    implanted = DEMO_NOW - timedelta(days=1002)
    eri = implanted + timedelta(days=1000)
    assert battery_charge_at(implanted, eri, DEMO_NOW, Fraction(1, 10)) < Fraction(1, 10)


def test_without_an_eri_date_the_battery_is_full() -> None:
    assert battery_charge_at(DEMO_NOW - timedelta(days=9), None, DEMO_NOW, Fraction(1, 10)) == 1


def test_after_a_kill_a_restart_at_the_same_speed_keeps_the_anchor() -> None:
    anchor = ClockAnchor(DEMO_NOW, 1000.0, 60)
    assert anchor.continued(5000.0, 60) == anchor


def test_a_clean_stop_keeps_the_simulated_time_and_the_next_start_takes_up_from_it() -> None:
    stopped = ClockAnchor(DEMO_NOW, 1000.0, 60).stopped(1010.0)
    assert stopped.sim == DEMO_NOW + timedelta(minutes=10)
    assert stopped.resumed(90_000.0, 600) == ClockAnchor(
        DEMO_NOW + timedelta(minutes=10), 90_000.0, 600
    )


def test_a_restart_at_another_speed_reanchors_at_the_simulated_time_reached() -> None:
    anchor = ClockAnchor(DEMO_NOW, 1000.0, 60)
    assert anchor.continued(1010.0, 600) == ClockAnchor(
        DEMO_NOW + timedelta(minutes=10), 1010.0, 600
    )


# -- the running system -----------------------------------------------------------------------


def test_every_programmable_implant_has_a_twin_in_reach_with_its_card_secret(
    system: DemoSystem,
) -> None:
    with system.clinic.read(ACTOR) as call:
        serials = set(call.session.scalars(select(Implant.serial)).all())
    served = {pump.serial for pump in system.station.pumps}
    assert served == serials - {"CON30-685658"}  # Sofia Rossi's constant-flow pump
    assert all(pump.device_secret and pump.label for pump in system.station.pumps)
    assert system.station.home == system.directory / "programmer"


def test_each_twin_interrogated_over_the_link_agrees_with_the_clinic_record(
    system: DemoSystem,
) -> None:
    for pump in system.station.pumps:
        report = pair_and_interrogate(system.station.home, pump)
        implant = implant_id(system, pump.serial)
        with system.clinic.read(ACTOR) as call:
            rx = prescriptions.current_prescription(call, implant)
            fill = refills.list_refills(call, implant)[0]
        assert rx is not None
        assert (report.serial, report.model_id) == (pump.serial, pump.model)
        assert report.reservoir.drug == fill.drug == rx.drug
        assert format_quantity(report.reservoir.concentration) == fill.concentration
        assert report.prescription_hash == rx.content_hash
        # the twin holds the expected content truncated to 1 µL
        missing = expected_now(system, pump.serial) - report.reservoir.estimated
        assert Volume.zero() <= missing < Volume.from_ml("0.001"), pump.label


def test_clinic_and_twins_show_the_same_time_and_advance_at_the_demo_speed(
    system: DemoSystem, wall: Wall
) -> None:
    pump = system.station.pumps[0]
    assert pair_and_interrogate(system.station.home, pump).local_time == LOCAL_NOW
    wall.seconds += 10  # ten real seconds = ten simulated minutes at 60x
    assert system.clinic.clock.now() == DEMO_NOW + timedelta(minutes=10)
    report = pair_and_interrogate(system.station.home, pump)
    assert report.local_time == LOCAL_NOW + timedelta(minutes=10)


def test_twin_reservoirs_follow_the_clinic_projection_as_simulated_time_runs(
    system: DemoSystem, wall: Wall
) -> None:
    wall.seconds += 24 * 60  # a simulated day
    for pump in system.station.pumps:
        report = pair_and_interrogate(system.station.home, pump)
        gap = abs((expected_now(system, pump.serial) - report.reservoir.estimated).amount)
        # 5 µL: delivery in whole strokes and pulses, and the 1 µL fill truncation
        assert gap < Fraction(5, 1000), f"{pump.label}: {gap} mL apart"


def test_the_pump_at_eri_declares_it_at_its_first_hourly_self_check(
    system: DemoSystem, wall: Wall
) -> None:
    owen = next(p for p in system.station.pumps if p.label == "Owen Price")
    wall.seconds += 60  # one simulated hour
    report = pair_and_interrogate(system.station.home, owen)
    assert report.battery.state is BatteryState.ERI


def test_a_restart_continues_the_simulated_time_instead_of_reseeding(
    demo_template: Path, tmp_path: Path, wall: Wall
) -> None:
    with open_demo(tmp_path / "demo", demo_template, wall) as first:
        add_a_patient(first)
        count = patient_count(first)
        secrets = {p.serial: p.device_secret for p in first.station.pumps}
        wall.seconds += 30
    wall.seconds += 3600  # stopped for a real hour: the demo paused
    with open_demo(tmp_path / "demo", demo_template, wall) as again:
        assert not again.first_start
        assert again.clinic.clock.now() == DEMO_NOW + timedelta(minutes=30)
        assert patient_count(again) == count
        assert {p.serial: p.device_secret for p in again.station.pumps} == secrets
        pump = again.station.pumps[0]
        assert pair_and_interrogate(again.station.home, pump).local_time == LOCAL_NOW + timedelta(
            minutes=30
        )


def test_a_restart_at_another_speed_keeps_clinic_and_twins_together(
    demo_template: Path, tmp_path: Path, wall: Wall
) -> None:
    with open_demo(tmp_path / "demo", demo_template, wall):
        wall.seconds += 10
    with open_demo(tmp_path / "demo", demo_template, wall, speed=600) as again:
        wall.seconds += 6  # one simulated hour at 600x
        assert again.clinic.clock.now() == DEMO_NOW + timedelta(minutes=70)
        report = pair_and_interrogate(again.station.home, again.station.pumps[0])
        assert report.local_time == LOCAL_NOW + timedelta(minutes=70)


def test_wiping_a_demo_directory_makes_the_next_start_seed_afresh(
    demo_template: Path, tmp_path: Path, wall: Wall
) -> None:
    with open_demo(tmp_path / "demo", demo_template, wall) as first:
        add_a_patient(first)
        seeded = patient_count(first) - 1
        wall.seconds += 600
    assert wipe_demo_directory(tmp_path / "demo")
    with open_demo(tmp_path / "demo", demo_template, wall) as fresh:
        assert fresh.first_start
        assert fresh.clinic.clock.now() == DEMO_NOW
        assert patient_count(fresh) == seeded


def test_a_directory_that_is_not_a_demo_is_never_wiped_or_used(
    demo_template: Path, tmp_path: Path, wall: Wall
) -> None:
    (tmp_path / "mine.txt").write_text("someone's notes")
    with pytest.raises(ValueError, match=f"not a thecal demo directory.*{MARKER_FILE}"):
        wipe_demo_directory(tmp_path)
    with pytest.raises(ValueError, match="not a thecal demo directory"):
        open_demo(tmp_path, demo_template, wall)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_a_restart_keeps_each_twin_at_its_address_so_a_saved_pairing_still_works(
    demo_template: Path, tmp_path: Path, wall: Wall
) -> None:
    with open_demo(tmp_path / "demo", demo_template, wall) as first:
        addresses = {p.serial: p.address for p in first.station.pumps}
        pump = first.station.pumps[0]
        pair_and_interrogate(first.station.home, pump)
    with open_demo(tmp_path / "demo", demo_template, wall) as again:
        assert {p.serial: p.address for p in again.station.pumps} == addresses
        saved = ControllerHome(again.station.home).pairing(pump.serial)
        link = connect_tcp(ControllerHome(again.station.home), saved)  # no pairing again
        try:
            assert interrogate(link).serial == pump.serial
        finally:
            link.close()


def test_a_first_start_without_example_prescriptions_says_what_is_missing(
    tmp_path: Path, wall: Wall
) -> None:
    with pytest.raises(ValueError, match="no example prescriptions"):
        DemoSystem.open(tmp_path / "demo", settings=SETTINGS, examples=tmp_path / "nowhere",
                        wall=wall)  # fmt: skip
