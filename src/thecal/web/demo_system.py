"""The demo system: a clinic on SQLite whose implanted patients have pump twins running in
accelerated simulated time, and the programmer station that reaches those twins.

`DemoSystem.open(directory, speed=..., start=...)` assembles it; `thecal demo` serves it.
Directory layout::

    demo.json       the marker: clock anchor (simulated time, wall time, speed), the
                    clinic's time zone, each twin's port
    clinic.sqlite   the clinic database, seeded with the demo clinic on the first start
    pumps/SERIAL/   one served pump twin per implanted programmable pump (state, implant
                    card, security log: `thecal.link.served_pump`)
    programmer/     this server's programmer identity, credential and pairings
                    (`ProgrammerStation.home`)
    authority/      the demo clinic's credential authority: every twin trusts it (installed
                    as at implant), and it signs the station's clinician credential

The demo's keys are kept in clear: the whole directory is a throw-away simulation. A
clinic keeps its authority key and its programmers' keys under passphrases
(`thecal authority`, `thecal programmer`).

Time. Clinic time = anchor + (wall − wall anchor) × speed, the same rule the served pumps
run on (`thecal.link.served_pump.WallClock`); the twins get the same anchor and speed, in
the clinic's local time as a pump's clock reads it, so a page and a pump interrogated at
the same moment show the same time. The demo pauses while it is stopped: a clean stop
keeps the simulated time reached, and the next start takes up from there (at whatever
speed it is given) and never reseeds. After a demo was killed without a clean stop, the
time has run on meanwhile, as the twins' own clocks would have.

The twins match the clinic's records at the moment they are made (`twin_plan`): model,
serial, drug and concentration of the last fill, the current prescription already
programmed, the reservoir at the clinic's expected content, the fluid path primed, the
battery as far along towards its recorded ERI date as the implant's age says.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from thecal.clinic import demo
from thecal.clinic.access import Actor
from thecal.clinic.service import prescriptions, refills, schedule
from thecal.clinic.service.common import stored_prescription
from thecal.clinic.service.core import Clinic, ClinicSettings, FixedClock
from thecal.clinic.storage import migrate
from thecal.clinic.storage.database import Database
from thecal.clinic.storage.models import Implant, ImplantStatus, Patient
from thecal.link.authority import (
    AuthorityKey,
    TrustedAuthority,
    issue_credential,
    load_authority,
    save_authority,
)
from thecal.link.served_pump import STATE_FILE, ImplantSpec, ServedPump, WallClock
from thecal.link.storage import atomic_write_json, private_directory, read_json
from thecal.programmer.home import ControllerHome
from thecal.pump import device_profile
from thecal.pump.commands import Role
from thecal.therapy.prescription import Prescription
from thecal.therapy.quantities import Concentration, Volume
from thecal.web.pumps import ProgrammerStation, PumpInReach

__all__ = [
    "DATABASE_FILE",
    "FILL_STEP",
    "MARKER_FILE",
    "PAIRING_WINDOW",
    "AcceleratedClock",
    "ClockAnchor",
    "DemoSystem",
    "ImplantRecord",
    "battery_charge_at",
    "implant_records",
    "pump_local",
    "twin_plan",
    "wipe_demo_directory",
]

MARKER_FILE = "demo.json"
MARKER_FORMAT = "thecal.demo/1"
DATABASE_FILE = "clinic.sqlite"
PUMPS_DIR = "pumps"
PROGRAMMER_DIR = "programmer"
AUTHORITY_DIR = "authority"
CREDENTIAL_YEARS = 10
"""The station's credential is valid this long (pump time: the demo's clock runs fast)."""

PAIRING_WINDOW = timedelta(hours=12)
"""How long each twin's pairing window stays open after a start, in wall-clock time (the
clinician's time, whatever the speed): a whole day of clicking through the demo."""

FILL_STEP = Volume(Fraction(1, 1000))
"""The twin's reservoir is filled to the clinic's expected content truncated to 1 µL
(never more than the record says)."""

_ACTOR = Actor.system("demo system")


# -- time ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockAnchor:
    """Simulated time `sim` (time-zone aware) was reached at wall-clock second `wall`
    (`time.time()`); from there simulated time runs `speed` times faster than the wall."""

    sim: datetime
    wall: float
    speed: float

    def __post_init__(self) -> None:
        if self.sim.tzinfo is None:
            raise ValueError("the demo clock's anchor must be time-zone aware")
        if not self.speed > 0:
            raise ValueError("speed: must be more than zero")

    def mapping(self, wall: Callable[[], float] = time.time) -> WallClock:
        """The anchor as the served pumps' wall-clock rule (the one place it lives)."""
        return WallClock(self.sim, self.wall, self.speed, wall)

    def sim_at(self, wall: float) -> datetime:
        """Simulated time at wall-clock second `wall`."""
        return self.mapping(lambda: wall).now()

    def stopped(self, wall: float) -> ClockAnchor:
        """The anchor to keep when the demo stops at wall-clock second `wall`: the
        simulated time reached then."""
        return ClockAnchor(self.sim_at(wall), wall, self.speed)

    def resumed(self, wall: float, speed: float) -> ClockAnchor:
        """The anchor for a start at wall-clock second `wall` running at `speed`, after a
        clean stop (`stopped`): simulated time takes up where it stopped."""
        return ClockAnchor(self.sim, wall, speed)

    def continued(self, wall: float, speed: float) -> ClockAnchor:
        """The anchor for a start after the demo was not stopped cleanly (killed): the
        time ran on meanwhile, as far as it can be told; at another speed, a new anchor
        at the simulated time reached by then."""
        if speed == self.speed:
            return self
        return ClockAnchor(self.sim_at(wall), wall, speed)

    def to_json(self) -> dict[str, Any]:
        return {"sim": self.sim.isoformat(), "wall": self.wall, "speed": self.speed}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClockAnchor:
        return cls(datetime.fromisoformat(data["sim"]), float(data["wall"]), float(data["speed"]))


class AcceleratedClock:
    """The clinic's clock in the demo (the `thecal.clinic.service.Clock` protocol):
    anchor + (wall − wall anchor) × speed, time-zone aware."""

    def __init__(self, anchor: ClockAnchor, wall: Callable[[], float] = time.time) -> None:
        self.anchor = anchor
        self._mapping = anchor.mapping(wall)

    def now(self) -> datetime:
        return self._mapping.now()

    def stopped(self) -> ClockAnchor:
        """The anchor that keeps the simulated time reached now (see `ClockAnchor.stopped`)."""
        return self.anchor.stopped(self._mapping.wall())

    def pump_clock(self, timezone: str) -> WallClock:
        """The same mapping on a pump's clock: naive local time in `timezone`."""
        start = pump_local(self.anchor.sim, timezone)
        return WallClock(start, self.anchor.wall, self.anchor.speed, self._mapping.wall)


def pump_local(moment: datetime, timezone: str) -> datetime:
    """`moment` as an implanted pump's clock reads it: naive local time in `timezone`
    (pump clocks carry no zone; the clinic sets them to its local time)."""
    return moment.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


# -- from the clinic's records to a twin ----------------------------------------------------


@dataclass(frozen=True)
class ImplantRecord:
    """What the clinic records about one active implant, read at moment `at`."""

    patient: str
    """The patient's name, as the clinician sees it."""
    model: str
    serial: str
    implanted_at: datetime
    battery_eri_at: datetime | None
    """When the battery reaches (or reached) ERI: projected, or as the pump reported."""
    drug: str
    concentration: Concentration
    """Drug and concentration of the last fill: what is in the reservoir."""
    expected_reservoir: Volume
    """The clinic's most likely reservoir content at `at` (mL)."""
    prescription: Prescription | None
    """The prescription in force."""
    at: datetime


def battery_charge_at(
    implanted_at: datetime, eri_at: datetime | None, at: datetime, eri_level: Fraction
) -> Fraction:
    """Battery charge (fraction of capacity) at `at` for a pump implanted full at
    `implanted_at` that reaches `eri_level` at `eri_at`: charge falls linearly between
    them, as the battery model behind the clinic's projection has it at a steady average
    rate (`thecal.pump.project_battery`). Without an ERI date the battery is full.
    `ValueError` when the battery would already be exhausted."""
    if eri_at is None or eri_at <= implanted_at:
        return Fraction(1)
    used = Fraction(_micros(at - implanted_at), _micros(eri_at - implanted_at))
    charge = 1 - (1 - eri_level) * used
    if charge <= 0:
        raise ValueError(f"the battery would be exhausted by {at.isoformat()}")
    return min(charge, Fraction(1))


def twin_plan(record: ImplantRecord, timezone: str) -> ImplantSpec | None:
    """The twin that matches `record` at `record.at`: same model and serial, the last
    fill's drug and concentration, the reservoir at the expected content (truncated to
    `FILL_STEP`, at most the pump's capacity), the prescription in force already
    programmed, the fluid path primed, the battery as `battery_charge_at` says, and its
    clock at `record.at` in the clinic's `timezone`. None for a pump without electronics
    (constant flow): it has no telemetry, so there is nothing to talk to."""
    profile = device_profile(record.model)
    if not profile.electronics:
        return None
    capacity = profile.model.reservoir.value
    fill = min(record.expected_reservoir, capacity).floor_to(FILL_STEP)
    charge = Fraction(1)
    if profile.battery is not None:
        charge = battery_charge_at(
            record.implanted_at,
            record.battery_eri_at,
            record.at,
            profile.battery.eri_level.value,
        )
    return ImplantSpec(
        model=record.model,
        serial=record.serial,
        drug=record.drug,
        concentration=record.concentration,
        fill=fill,
        catheter_volume=None,
        primed=True,
        start=pump_local(record.at, timezone),
        prescription=record.prescription,
        battery_charge=charge,
    )


def implant_records(clinic: Clinic) -> list[ImplantRecord]:
    """Every active, filled implant in the clinic as recorded now, by patient name."""
    records: list[ImplantRecord] = []
    with clinic.read(_ACTOR) as call:
        rows = call.session.execute(
            select(Implant, Patient)
            .join(Patient, Implant.patient_id == Patient.id)
            .where(Implant.status == ImplantStatus.ACTIVE)
            .order_by(Patient.family_name, Patient.given_name, Implant.id)
        ).all()
        for implant, patient in rows:
            fill = schedule.last_refill(call, implant.id)
            expected = refills.expected_reservoir(call, implant.id)
            if fill is None or expected is None:
                continue  # not filled yet: no twin until the first fill is recorded
            current = prescriptions.current_record(call, implant.id)
            records.append(
                ImplantRecord(
                    patient=f"{patient.given_name} {patient.family_name}",
                    model=implant.pump_model,
                    serial=implant.serial,
                    implanted_at=implant.implanted_at,
                    battery_eri_at=implant.battery_eri_at,
                    drug=fill.drug,
                    concentration=fill.concentration,
                    expected_reservoir=expected.most_likely,
                    prescription=stored_prescription(current) if current else None,
                    at=call.now,
                )
            )
    return records


# -- the directory --------------------------------------------------------------------------


def _is_demo_directory(directory: Path) -> bool:
    return (directory / MARKER_FILE).is_file()


def _check_usable(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory} is a file, not a directory; choose another --dir")
    if directory.is_dir() and not _is_demo_directory(directory) and any(directory.iterdir()):
        raise ValueError(
            f"{directory} is not a thecal demo directory (it has files but no {MARKER_FILE}); "
            "choose an empty or new directory with --dir"
        )


def wipe_demo_directory(directory: Path) -> bool:
    """Delete a demo directory so the next start seeds afresh; True if something was
    deleted. `ValueError` (nothing deleted) for a directory that is not empty and is not
    a demo directory: the demo never deletes anything it did not make."""
    _check_usable(directory)
    if not directory.exists() or not any(directory.iterdir()):
        return False
    shutil.rmtree(directory)
    return True


def _safe_name(serial: str) -> str:
    """A serial as a directory name (serials are typed by people)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", serial).lstrip(".") or "_"


# -- the system -------------------------------------------------------------------------------


@dataclass
class _RunningTwin:
    served: ServedPump
    thread: threading.Thread
    address: tuple[str, int]


class DemoSystem:
    """The assembled demo: `clinic` (on `clock`), one served twin per programmable
    implant (`twins`, by serial) each running in its own thread, and the `station` that
    reaches them. Build with `open`; leave the `with` block (or call `close`) to save
    every twin and stop its thread."""

    def __init__(
        self,
        directory: Path,
        database: Database,
        clinic: Clinic,
        clock: AcceleratedClock,
        first_start: bool,
        skipped: tuple[str, ...],
    ) -> None:
        self.directory = directory
        self.database = database
        self.clinic = clinic
        self.clock = clock
        self.first_start = first_start
        self.skipped = skipped
        """Implants that have no twin, and why (e.g. a constant-flow pump)."""
        self._running: dict[str, _RunningTwin] = {}
        self.station = ProgrammerStation(directory / PROGRAMMER_DIR)
        self._authority_key: AuthorityKey

    @property
    def twins(self) -> dict[str, ServedPump]:
        """The served twins, by serial."""
        return {serial: running.served for serial, running in self._running.items()}

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        speed: float = 60.0,
        start: datetime | None = None,
        settings: ClinicSettings | None = None,
        examples: Path | None = None,
        template: Path | None = None,
        host: str = "127.0.0.1",
        wall: Callable[[], float] = time.time,
    ) -> DemoSystem:
        """Open the demo kept in `directory`, or create it there (seeded at `start`,
        default now) when it holds none yet; then start the twins on `host`.

        `examples`: the example prescriptions the demo clinic is seeded from (default the
        repository's). `template`: a clinic database already seeded by
        `thecal.clinic.demo.seed_demo` at `start`, copied instead of seeding (it saves a
        few seconds; the tests use it). `ValueError` for a directory that holds something
        other than a demo, or when there is nothing to seed from."""
        if not speed > 0:
            raise ValueError("speed: must be more than zero")
        settings = settings or ClinicSettings()
        _check_usable(directory)
        marker_file = directory / MARKER_FILE
        marker = read_json(marker_file) if marker_file.is_file() else None
        if marker is not None and marker.get("format") != MARKER_FORMAT:
            raise ValueError(f"{marker_file}: not a thecal demo marker ({MARKER_FORMAT})")
        private_directory(directory)
        database_file = directory / DATABASE_FILE
        if marker is None or not marker.get("seeded"):
            first_start = True
            moment = start or datetime.now(UTC).replace(microsecond=0)
            if moment.tzinfo is None:
                raise ValueError("start: give a time-zone aware moment")
            # An interrupted first start leaves a half-seeded database: start it over.
            atomic_write_json(marker_file, {"format": MARKER_FORMAT, "seeded": False})
            for leftover in directory.glob(f"{DATABASE_FILE}*"):
                leftover.unlink()
            shutil.rmtree(directory / PUMPS_DIR, ignore_errors=True)
            _create_database(database_file, settings, moment, examples, template)
            timezone = settings.timezone
            anchor = ClockAnchor(moment, wall(), speed)
            marker = {"format": MARKER_FORMAT, "seeded": True, "timezone": timezone, "ports": {}}
        else:
            first_start = False
            timezone = str(marker["timezone"])
            saved = ClockAnchor.from_json(marker["clock"])
            if marker.get("stopped"):
                anchor = saved.resumed(wall(), speed)
            else:
                anchor = saved.continued(wall(), speed)
        marker["clock"] = anchor.to_json()
        marker["stopped"] = False
        atomic_write_json(marker_file, marker)
        database = Database(f"sqlite:///{database_file}")
        clock = AcceleratedClock(anchor, wall)
        clinic = Clinic(database, replace(settings, timezone=timezone), clock)
        system = cls(directory, database, clinic, clock, first_start, ())
        try:
            migrate.upgrade(database)  # a demo made by an older thecal gets the newer schema
            records = implant_records(clinic)
            system.skipped = tuple(
                f"{r.patient}'s pump ({r.model}) has no electronics, so no telemetry: no twin"
                for r in records
                if not device_profile(r.model).electronics
            )
            system._start_twins(records, timezone, host, marker.get("ports", {}))
        except BaseException:
            system.close()
            raise
        marker["ports"] = {serial: r.address[1] for serial, r in system._running.items()}
        atomic_write_json(marker_file, marker)
        return system

    def _authority(self, timezone: str) -> TrustedAuthority:
        """The demo clinic's authority (made on the first start), as a twin trusts it."""
        folder = self.directory / AUTHORITY_DIR
        try:
            key = load_authority(folder, None)
        except ValueError:
            if (folder / "authority.key").exists():
                raise
            key = AuthorityKey.generate()
            save_authority(folder, key, "demo clinic", None)
        now = pump_local(self.clock.now(), timezone)
        self._authority_key = key
        both = frozenset({Role.CLINICIAN, Role.EMERGENCY})
        return TrustedAuthority(key.public, "demo clinic", both, now, "implant")

    def _credential_for_station(self, timezone: str) -> None:
        """Issue the station a clinician credential from the demo authority when it has
        none, or one from another authority, or one ending within a year (pump time)."""
        home = ControllerHome(self.directory / PROGRAMMER_DIR)
        now = pump_local(self.clock.now(), timezone)
        held = home.credential()
        key = self._authority_key
        if (
            held is not None
            and held.authority == key.id
            and held.subject == home.public_key()
            and held.not_before <= now
            and held.not_after - now > timedelta(days=365)
        ):
            return
        home.install_credential(
            issue_credential(
                key,
                home.public_key(),
                Role.CLINICIAN,
                "demo clinic programmer station",
                now - timedelta(days=1),
                now + timedelta(days=365 * CREDENTIAL_YEARS),
            )
        )

    def _start_twins(
        self,
        records: list[ImplantRecord],
        timezone: str,
        host: str,
        ports: dict[str, int],
    ) -> None:
        pump_clock = self.clock.pump_clock(timezone)
        authority = self._authority(timezone)
        self._credential_for_station(timezone)
        pumps: list[PumpInReach] = []
        for record in records:
            if not device_profile(record.model).electronics:
                continue  # no telemetry: nothing to serve
            folder = self.directory / PUMPS_DIR / _safe_name(record.serial)
            # A twin that exists already has lived on since; only a new one is planned.
            plan = None if (folder / STATE_FILE).exists() else twin_plan(record, timezone)
            served = ServedPump.open(folder, plan, clock=pump_clock, authorities=(authority,))
            try:
                _trust_demo_authority(served, authority)
                # the window is the clinician's time: wall-clock, whatever the speed
                served.open_pairing(PAIRING_WINDOW * self.clock.anchor.speed)
                address = _listen(served, host, ports.get(record.serial))
            except BaseException:
                served.stop()
                raise
            thread = threading.Thread(
                target=served.run, name=f"pump twin {record.serial}", daemon=True
            )
            thread.start()
            self._running[record.serial] = _RunningTwin(served, thread, address)
            pumps.append(
                PumpInReach(
                    serial=record.serial,
                    model=record.model,
                    address=f"{address[0]}:{address[1]}",
                    label=record.patient,
                    device_secret=served.endpoint.state.device_secret.card_text(),
                )
            )
        self.station = ProgrammerStation(self.directory / PROGRAMMER_DIR, tuple(pumps))

    def close(self) -> None:
        """Stop every twin's thread, bring it up to date and save it; release the database."""
        for running in self._running.values():
            running.served.request_stop()
        # Each stop waits for its server's poll loop to notice: stop them side by side.
        running_twins = list(self._running.values())
        stoppers = [threading.Thread(target=_stop_twin, args=(r,)) for r in running_twins]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        self._running.clear()
        self._stop_clock()
        self.database.dispose()

    def _stop_clock(self) -> None:
        """Keep the simulated time reached: the demo pauses while it is not running, so a
        newcomer who comes back next day finds the clinic where they left it (not weeks on,
        with pumps run dry)."""
        marker_file = self.directory / MARKER_FILE
        marker = read_json(marker_file)
        if not marker.get("seeded"):
            return
        marker["clock"] = self.clock.stopped().to_json()
        marker["stopped"] = True
        atomic_write_json(marker_file, marker)

    def __enter__(self) -> DemoSystem:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _trust_demo_authority(served: ServedPump, authority: TrustedAuthority) -> None:
    """A twin made by a demo from before authorities existed trusts none: install the
    demo clinic's, as its implant would have (the demo's own migration, never a
    pump's)."""
    state = served.endpoint.state
    if authority.key_id not in state.authorities and not state.authorities:
        with served.lock:
            state.trust(authority)
            served.save()


def _stop_twin(running: _RunningTwin) -> None:
    running.thread.join()
    running.served.stop()


def _listen(served: ServedPump, host: str, port: int | None) -> tuple[str, int]:
    """Listen on the port the twin had last time (the programmer's saved pairing keeps
    working), else on any free port."""
    if port:
        try:
            return served.listen(host, int(port))
        except OSError:
            pass  # taken by something else meanwhile: any free port will do
    return served.listen(host, 0)


def _create_database(
    path: Path,
    settings: ClinicSettings,
    start: datetime,
    examples: Path | None,
    template: Path | None,
) -> None:
    if template is not None:
        shutil.copyfile(template, path)
        return
    folder = examples or demo.default_examples_dir()
    if folder is None or not folder.is_dir():
        raise ValueError(
            "no example prescriptions to seed the demo clinic from; run thecal from a "
            "checkout of the repository (it has examples/)"
        )
    database = Database(f"sqlite:///{path}")
    try:
        migrate.upgrade(database)
        demo.seed_demo(Clinic(database, settings, FixedClock(start)), folder, now=start)
    finally:
        database.dispose()


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
