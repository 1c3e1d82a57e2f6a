"""`thecal pump serve`: the pump twin as its own process, reachable over TCP.

    thecal pump serve --state DIR --listen 127.0.0.1:7400 \\
        --drug morphine --concentration "10 mg/mL" --fill "20 mL"   # first start only

The first start implants a pump (filled, stopped, waiting for its prescription and
priming bolus), installs the clinic's authority key (``--authority HEX``: programmers
with a clinician credential it signed may pair as clinicians), prints its implant card
(serial and device secret, also kept in DIR) and opens the pairing window. Later starts
restore everything from DIR. The twin runs on the wall clock, `--speed` times faster.
Stop it with Ctrl-C or SIGTERM: the state is saved first.

Only one process serves a state directory (a second is refused: two copies of one
pump's memory would overwrite each other), and a port already in use is refused before
anything is created.
"""

from __future__ import annotations

import signal
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

import typer

from thecal.cli.output import (
    OneLineErrorsCommand,
    OneLineErrorsGroup,
    console,
    emit_json,
    user_errors,
)
from thecal.link.authority import TrustedAuthority, parse_authority_key
from thecal.link.served_pump import CARD_FILE, ImplantSpec, ServedPump, syringe_request
from thecal.link.transports.tcp import TcpPumpServer, parse_address
from thecal.pump.commands import Role
from thecal.therapy.library import default_library
from thecal.therapy.pump_models import find_pump_model
from thecal.therapy.units import parse_concentration, parse_volume

pump_app = typer.Typer(
    cls=OneLineErrorsGroup, help="The pump twin as a served device.", no_args_is_help=True
)


def _implant_spec(
    model: str,
    serial: str,
    drug: str | None,
    concentration: str | None,
    fill: str | None,
    catheter_volume: str | None,
    start: str | None,
) -> ImplantSpec | None:
    if drug is None and concentration is None and fill is None:
        return None
    if drug is None or concentration is None or fill is None:
        raise ValueError("the first start needs all of --drug, --concentration and --fill")
    find_pump_model(model)  # a clear error for an unknown model
    entry = default_library().find(drug)
    if entry is None:
        raise ValueError(
            f"--drug: {drug!r} is not in the drug library; accepted: {default_library().drug_ids()}"
        )
    strength = parse_concentration(concentration, "--concentration")
    if strength.amount <= 0:
        raise ValueError('--concentration: must be more than zero, e.g. "10 mg/mL"')
    filled = parse_volume(fill, "--fill")
    if filled.amount <= 0:
        raise ValueError('--fill: must be more than zero, e.g. "20 mL"')
    try:
        when = datetime.fromisoformat(start) if start else datetime.now().replace(microsecond=0)
    except ValueError:
        raise ValueError(
            f"--start: {start!r}; accepted: an ISO date-time, e.g. 2026-05-04T08:00"
        ) from None
    volume = parse_volume(catheter_volume, "--catheter-volume") if catheter_volume else None
    return ImplantSpec(
        model=model,
        serial=serial,
        drug=entry.id,
        concentration=strength,
        fill=filled,
        catheter_volume=volume,
        primed=volume is None,
        start=when,
    )


@pump_app.command("serve", cls=OneLineErrorsCommand)
def serve(
    state: Path = typer.Option(..., "--state", help="State directory (created on first start)."),
    listen: str = typer.Option(
        "127.0.0.1:7400", "--listen", help="HOST:PORT (port 0: any free port)."
    ),
    speed: float = typer.Option(
        1.0, "--speed", help="Run the pump's clock this many times faster."
    ),
    model: str = typer.Option("peristaltic-20", "--model", help="Pump model (first start)."),
    serial: str = typer.Option("SIM-0001", "--serial", help="Serial number (first start)."),
    drug: str = typer.Option(None, "--drug", help="Drug in the reservoir (first start)."),
    concentration: str = typer.Option(
        None, "--concentration", help='e.g. "10 mg/mL" (first start).'
    ),
    fill: str = typer.Option(None, "--fill", help='Reservoir fill, e.g. "20 mL" (first start).'),
    catheter_volume: str = typer.Option(
        None,
        "--catheter-volume",
        help="Implanted catheter volume; the fluid path then needs a priming bolus (first start).",
    ),
    start: str = typer.Option(
        None, "--start", help="Pump clock at first start (ISO; default now)."
    ),
    open_pairing: bool = typer.Option(
        False, "--open-pairing", help="Open the pairing window (the magnet / programming head)."
    ),
    pairing_window: int = typer.Option(
        1800, "--pairing-window", help="How long pairing stays open, in wall-clock seconds."
    ),
    authority: list[str] = typer.Option(
        None,
        "--authority",
        help="Clinic authority public key (hex) trusted for clinician and emergency "
        "credentials (first start; repeatable).",
    ),
    emergency_authority: list[str] = typer.Option(
        None,
        "--emergency-authority",
        help="Authority public key (hex) trusted for emergency credentials only "
        "(first start; repeatable).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the start-up report as JSON."),
) -> None:
    """Serve the pump twin kept in DIR over TCP until stopped."""
    with user_errors():
        if speed <= 0:
            raise ValueError("--speed: must be more than zero")
        host, port = parse_address(listen)
        spec = _implant_spec(model, serial, drug, concentration, fill, catheter_volume, start)
        authorities = _authorities(authority or [], emergency_authority or [], spec)
        try:
            server = TcpPumpServer(host, port)  # bound first: a taken port changes nothing
        except OSError as error:
            raise ValueError(
                f"--listen: cannot listen on {host}:{port} ({error.strerror or error}); "
                "choose a free port, or 0 for any"
            ) from None
        try:
            served = ServedPump.open(state, spec, speed, authorities=authorities)
        except BaseException:
            server.shutdown()
            raise
    if served.first_start or open_pairing:
        # the window is the clinician's time: wall-clock seconds, whatever the pump's speed
        served.open_pairing(timedelta(seconds=pairing_window * speed))
    address = served.serve_on(server)
    served.open_syringe_port()
    link_state = served.endpoint.state
    report = {
        "serial": link_state.serial,
        "model": link_state.model,
        "listening": f"{address[0]}:{address[1]}",
        "pump_public_key": link_state.static.public.hex(),
        "first_start": served.first_start,
        "pairing_open": served.pairing_open(),
        "authorities": sorted(link_state.authorities),
        "pump_time": served.twin.now,
        "state": str(state),
    }
    if served.first_start:
        report["device_secret"] = link_state.device_secret.card_text()
    if json_out:
        emit_json(report)
    else:
        if served.first_start:
            console.print(served.card_text(), markup=False, highlight=False)
            console.print(f"(the card is kept in {state / CARD_FILE})", markup=False)
        console.print(
            f"pump {link_state.serial} listening on {report['listening']}"
            + ("; pairing window open" if report["pairing_open"] else ""),
            markup=False,
            highlight=False,
        )

    def _stop(signum: int, frame: FrameType | None) -> None:
        served.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    served.run()
    served.stop()


def _authorities(
    clinic: list[str], emergency: list[str], spec: ImplantSpec | None
) -> tuple[TrustedAuthority, ...]:
    if (clinic or emergency) and spec is None:
        raise ValueError(
            "--authority / --emergency-authority are installed at the first start (implant); "
            "a running pump gets a new authority from a clinician session"
        )
    when = spec.start if spec is not None else datetime.now()
    both = frozenset({Role.CLINICIAN, Role.EMERGENCY})
    return tuple(
        TrustedAuthority(parse_authority_key(text, option), label, roles, when, "implant")
        for texts, option, label, roles in (
            (clinic, "--authority", "clinic", both),
            (emergency, "--emergency-authority", "emergency access", frozenset({Role.EMERGENCY})),
        )
        for text in texts
    )


@pump_app.command("card", cls=OneLineErrorsCommand)
def card(
    state: Path = typer.Option(..., "--state", help="State directory of a served pump."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Show the implant card (serial, device secret, pump key) of the pump kept in DIR."""
    with user_errors():
        path = state / CARD_FILE
        text = path.read_text("utf-8")
    if json_out:
        fields = {}
        for line in text.splitlines()[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().replace(" ", "_")] = value.strip()
        emit_json(fields)
    else:
        console.print(text, markup=False, highlight=False)


@pump_app.command("syringe", cls=OneLineErrorsCommand)
def syringe(
    action: str = typer.Argument(..., help="aspirate, inject, or refill (both at once)"),
    state: Path = typer.Option(..., "--state", help="State directory of the served pump."),
    volume: str = typer.Option(None, "--volume", help='e.g. "20 mL" (aspirate: default all).'),
    drug: str = typer.Option(None, "--drug", help="Drug injected (default: what is there)."),
    concentration: str = typer.Option(None, "--concentration", help="Concentration injected."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """The refill septum of a served pump: aspirate or inject, as with a syringe at the
    patient's side (a local socket in the state directory, never the telemetry link)."""
    with user_errors():
        if action == "aspirate":
            answer = syringe_request(state, {"op": "aspirate", "volume": volume})
        elif action in ("inject", "refill"):
            if volume is None or concentration is None:
                raise ValueError(f"{action} needs --volume and --concentration")
            request = {"op": action, "volume": volume, "drug": drug}
            request["concentration"] = concentration
            answer = syringe_request(state, request)
        else:
            raise ValueError(f"{action!r}: accepted actions are aspirate, inject and refill")
    if json_out:
        emit_json(answer)
    else:
        for name, value in answer.items():
            console.print(f"{name.replace('_', ' ')}: {value}", markup=False)
