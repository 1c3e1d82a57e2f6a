"""A real pump twin behind a real link endpoint, on simulated time, for the link and
programmer tests. Waiting for an answer advances the twin's clock instead of sleeping."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from thecal.link.authority import AuthorityKey, Credential, TrustedAuthority, issue_credential
from thecal.link.controller import ControllerLink, RetryPolicy
from thecal.link.guard import ADMISSION_LEN, COOKIE_LEN
from thecal.link.keys import StaticKey
from thecal.link.pump_endpoint import LinkLimits, PumpEndpoint
from thecal.link.pump_state import PumpLinkState
from thecal.link.transports.memory import MemoryChannel
from thecal.pump import PumpTwin
from thecal.pump.commands import Role
from thecal.therapy.prescription import Prescription
from thecal.therapy.prescription_toml import read_prescription
from thecal.therapy.quantities import Volume

EXAMPLES = Path(__file__).parents[2] / "examples"
PTM = read_prescription(EXAMPLES / "morphine-cancer-pain-ptm.toml")
T0 = datetime(2026, 3, 2, 9, 0)
SERIAL = "TEST-0001"
FULL = Volume.from_ml(20)
_hello = itertools.count(1)
FAST = RetryPolicy(timeout=1.0, attempts=12, handshake_attempts=12)
INIT_HEADER = 1 + COOKIE_LEN + ADMISSION_LEN
"""Bytes before Noise message 1 in a HANDSHAKE_INIT payload: mode, cookie, admission tag."""
CLINIC = AuthorityKey.generate()
"""The test clinic's authority (every simulated pump trusts it for clinician and
emergency credentials)."""
ER = AuthorityKey.generate()
"""An emergency-access authority (trusted for emergency credentials only)."""


def trusted(authority: AuthorityKey, *roles: Role, label: str = "") -> TrustedAuthority:
    return TrustedAuthority(
        authority.public, label or authority.id, frozenset(roles), T0, "implant"
    )


def credential(
    key: StaticKey,
    role: Role = Role.CLINICIAN,
    authority: AuthorityKey = CLINIC,
    *,
    label: str = "test programmer",
    not_before: datetime = T0 - timedelta(days=1),
    not_after: datetime = T0 + timedelta(days=365),
) -> Credential:
    return issue_credential(authority, key.public, role, label, not_before, not_after)


def init_payload(mode: int, cookie: bytes, message1: bytes, tag: bytes | None = None) -> bytes:
    """A HANDSHAKE_INIT payload as a controller builds it (no admission tag: a stranger)."""
    return bytes([mode]) + cookie + (tag or bytes(ADMISSION_LEN)) + message1


def hello_clock() -> int:
    return next(_hello)


@dataclass
class SimulatedPump:
    twin: PumpTwin
    endpoint: PumpEndpoint
    keys: dict[str, StaticKey] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.twin.now

    def advance(self, seconds: float) -> None:
        self.twin.advance(self.twin.now + timedelta(seconds=seconds))

    def twin_fingerprint(self) -> str:
        data = json.dumps(self.twin.snapshot(), sort_keys=True, default=str)
        return hashlib.sha256(data.encode()).hexdigest()

    def channel(self, tap: list[tuple[str, bytes]] | None = None) -> MemoryChannel:
        return MemoryChannel(self.endpoint.receive, tap=tap, on_idle=self.advance)

    def controller(
        self,
        key: StaticKey,
        channel: object | None = None,
        retry: RetryPolicy = FAST,
        *,
        credential: Credential | None = None,
        emergency: bool = False,
    ) -> ControllerLink:
        return ControllerLink(
            channel or self.channel(),  # type: ignore[arg-type]
            key,
            self.endpoint.state.static.public,
            SERIAL,
            retry=retry,
            hello_clock=hello_clock,
            credential=credential,
            emergency=emergency,
        )

    def open_pairing_as_clinician(self, minutes: int = 15) -> None:
        """A clinician session opens the window (so the card alone may pair a patient)."""
        self.endpoint.open_pairing(timedelta(minutes=minutes), opened_by="0" * 16)

    def enrol(self, role: Role, label: str = "") -> StaticKey:
        """Put a new controller on the allow-list directly (as a clinician would)."""
        from thecal.link.pump_state import EnrolledController

        key = StaticKey.generate()
        entry = EnrolledController(key.public, role, label or role.value, self.now(), "test")
        self.endpoint.state.controllers[key.id] = entry
        return key


def simulated_pump(
    *,
    open_pairing: bool = False,
    prescription: Prescription | None = PTM,
    model: str = "peristaltic-20",
    fill: Volume = FULL,
    catheter_volume: Volume | None = None,
    primed: bool = True,
    limits: LinkLimits | None = None,
    settle: timedelta = timedelta(hours=4),
) -> SimulatedPump:
    """A pump implanted at `T0` and run for `settle` (past the first patient-bolus lockout)."""
    drug_rx = prescription or PTM
    twin = PumpTwin.implant(
        model,
        T0,
        drug=drug_rx.drug,
        concentration=drug_rx.concentration,
        fill=fill,
        prescription=prescription,
        serial=SERIAL,
        catheter_volume=catheter_volume,
        primed=primed,
    )
    twin.advance(T0 + settle)
    state = PumpLinkState.new(
        SERIAL,
        model,
        authorities=(
            trusted(CLINIC, Role.CLINICIAN, Role.EMERGENCY, label="test clinic"),
            trusted(ER, Role.EMERGENCY, label="emergency access"),
        ),
    )
    endpoint = PumpEndpoint(state, twin, lambda: twin.now, limits=limits)
    if open_pairing:
        endpoint.open_pairing(timedelta(minutes=15))
    return SimulatedPump(twin, endpoint)
