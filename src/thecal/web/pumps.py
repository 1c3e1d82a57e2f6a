"""The clinic server as a clinician programmer: its identity and the pumps it can reach.

In a clinic the programmer reaches the pump under its programming head; here the pumps
in reach are served pump twins (`thecal pump serve`, or the ones `thecal demo` starts),
each listening for the secure link on a TCP address. The server pairs with a pump the
way a clinician's programmer does: with the device secret from the patient's implant
card, while the pump's pairing window is open, and the clinician credential the clinic's
authority issued to this station (kept in its state directory: the card alone never
makes anyone a clinician).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from thecal.programmer.home import ControllerHome

__all__ = ["ProgrammerStation", "PumpInReach"]


@dataclass(frozen=True)
class PumpInReach:
    """A pump the programmer can talk to."""

    serial: str
    model: str
    address: str
    """``host:port`` of the pump's secure-link endpoint."""
    label: str
    """What the clinician sees in the list, e.g. the patient's name."""
    device_secret: str | None = None
    """The implant card's device secret, when this system knows it (the demo only);
    otherwise the clinician types it from the card."""


@dataclass(frozen=True)
class ProgrammerStation:
    """This server's programmer: its state directory and the pumps in reach."""

    home: Path
    """A `thecal.programmer.home.ControllerHome` directory: key pair, credential,
    pairings and the journal of unanswered requests."""
    pumps: tuple[PumpInReach, ...] = ()
    passphrase: bytes | None = field(default=None, repr=False)
    """What the station's private key is encrypted under (None: kept in clear, as in the
    demo, whose whole directory is throw-away)."""

    def controller_home(self) -> ControllerHome:
        return ControllerHome(self.home, self.passphrase)

    def pump(self, serial: str) -> PumpInReach | None:
        """The pump in reach with this serial, if any."""
        return next((p for p in self.pumps if p.serial == serial), None)
