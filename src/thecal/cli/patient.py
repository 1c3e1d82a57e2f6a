"""`thecal patient ...`: the patient controller on the command line.

    thecal patient identity --state DIR          # show this controller's public key
    thecal patient connect --pump HOST:PORT --serial SN --pump-key HEX
    thecal patient pair --pump HOST:PORT --secret CARD-SECRET
    thecal patient bolus | status | ack ALARM

Either the clinician enrols the controller's public key (`thecal programmer enrol`) and
gives the pump's address, serial and key for `connect`, or the clinician opens the
pump's pairing window (`thecal programmer open-pairing`) and the controller pairs with
the secret on the patient's implant card (`pair`): the card pairs a patient controller,
never more. The pump decides every request. The key is kept in clear unless
``THECAL_PROGRAMMER_PASSPHRASE`` is set (then it is encrypted, and needed every time).
"""

from __future__ import annotations

from pathlib import Path

import typer

from thecal.cli.output import (
    EXIT_REFUSED,
    OneLineErrorsCommand,
    OneLineErrorsGroup,
    console,
    emit_json,
    user_errors,
)
from thecal.cli.programmer import (
    JSON,
    STATE,
    connected,
    link_errors,
    plain,
    resolved_json,
    show_resolved,
    unlock,
)
from thecal.link.controller import ControllerLink
from thecal.link.keys import DeviceSecret, parse_public_key
from thecal.link.transports.tcp import TcpChannel, parse_address
from thecal.programmer import patient as workflows
from thecal.programmer.connection import TCP_RETRY, pair_tcp
from thecal.programmer.home import ControllerHome, PumpPairing
from thecal.pump.alarms import AlarmKind
from thecal.pump.commands import Role

patient_app = typer.Typer(
    cls=OneLineErrorsGroup,
    help="Patient controller: request a bolus, see the status, acknowledge an alarm.",
    no_args_is_help=True,
)
PUMP = typer.Option(None, "--pump", help="Serial of the pump, when paired with several.")


@patient_app.command("identity", cls=OneLineErrorsCommand)
def identity(state: Path = STATE, json_out: bool = JSON) -> None:
    """This controller's public key, for the clinician to enrol."""
    with user_errors():
        key = unlock(ControllerHome.locate(state), Role.PATIENT).key()
    if json_out:
        emit_json({"key_id": key.id, "public_key": key.public.hex()})
    else:
        console.print(f"key id {key.id}\npublic key {key.public.hex()}", markup=False)


@patient_app.command("connect", cls=OneLineErrorsCommand)
def connect(
    pump: str = typer.Option(..., "--pump", help="Address of the pump, HOST:PORT."),
    serial: str = typer.Option(..., "--serial", help="The pump's serial number."),
    pump_key: str = typer.Option(..., "--pump-key", help="The pump's public key (hex)."),
    state: Path = STATE,
    json_out: bool = JSON,
) -> None:
    """Check that the pump accepts this controller, and remember the pump."""
    with user_errors():
        public = parse_public_key(pump_key, "--pump-key")
        host, port = parse_address(pump)
        home = unlock(ControllerHome.locate(state), Role.PATIENT)
    with link_errors():
        link = ControllerLink(
            TcpChannel(host, port),
            home.key(),
            public,
            serial,
            retry=TCP_RETRY,
            hello_clock=home.next_hello,
        )
        try:
            welcome = link.connect()
        finally:
            link.close()
    if welcome.role is not Role.PATIENT:
        console.print(f"note: this key is enrolled as {welcome.role.value}", markup=False)
    home.save_pairing(PumpPairing(serial, "", public, pump, welcome.role))
    if json_out:
        emit_json({"serial": serial, "role": welcome.role, "key_id": welcome.key_id})
    else:
        console.print(f"connected to pump {serial} as {welcome.role.value}", markup=False)


@patient_app.command("pair", cls=OneLineErrorsCommand)
def pair(
    pump: str = typer.Option(..., "--pump", help="Address of the pump, HOST:PORT."),
    secret: str = typer.Option(..., "--secret", help="The device secret from the implant card."),
    label: str = typer.Option("patient controller", "--label"),
    state: Path = STATE,
    json_out: bool = JSON,
) -> None:
    """Pair with the implant card's secret, while the clinician has the window open."""
    with user_errors():
        card = DeviceSecret.parse(secret)
        parse_address(pump)
        home = unlock(ControllerHome.locate(state), Role.PATIENT)
    with link_errors():
        paired = pair_tcp(home, pump, card, label)
    result = {"serial": paired.pairing.serial, "role": paired.pairing.role,
              "key_id": paired.key_id, "address": pump}  # fmt: skip
    if json_out:
        emit_json(result)
    else:
        console.print(
            f"paired with pump {paired.pairing.serial} as {paired.pairing.role.value}",
            markup=False,
        )


@patient_app.command("bolus", cls=OneLineErrorsCommand)
def bolus(state: Path = STATE, pump: str = PUMP, json_out: bool = JSON) -> None:
    """Ask the pump for the prescribed patient bolus."""
    with connected(state, pump, Role.PATIENT) as c, link_errors():
        outcome = workflows.request_bolus(c.link)
    if json_out:
        emit_json(
            {
                **plain(outcome),
                "wait": outcome.wait_text(),
                "resolved_pending": resolved_json(c.resolved),
            }
        )
    else:
        show_resolved(c.resolved)
        today = (
            f"{outcome.count_24h} of {outcome.max_per_24h} in the last 24 h"
            if outcome.count_24h is not None
            else ""
        )
        if outcome.granted:
            console.print(
                f"bolus granted: {outcome.dose}, until {outcome.ends_at:%H:%M}; {today}",
                markup=False,
            )
        else:
            wait = outcome.wait_text()
            console.print(
                f"bolus denied: {outcome.message}"
                + (f"; next allowed in {wait}" if wait else "")
                + (f"; {today}" if today else ""),
                markup=False,
            )
    if not outcome.granted:
        raise typer.Exit(EXIT_REFUSED)


@patient_app.command("status", cls=OneLineErrorsCommand)
def status(state: Path = STATE, pump: str = PUMP, json_out: bool = JSON) -> None:
    """Delivering or not, reservoir, alarms, and whether a bolus is available."""
    with connected(state, pump, Role.PATIENT) as c, link_errors():
        summary = workflows.status(c.link)
    if json_out:
        emit_json({**plain(summary), "resolved_pending": resolved_json(c.resolved)})
        return
    show_resolved(c.resolved)
    console.print(
        f"pump {'delivering' if summary.delivering else 'NOT delivering'} "
        f"({summary.state.value}); reservoir about {summary.estimated_reservoir}"
        + (" (LOW)" if summary.low_reservoir else ""),
        markup=False,
    )
    for alarm in summary.alarms:
        console.print(f"ALARM {alarm.kind.value} [{alarm.priority.value}]", markup=False)
    pb = summary.patient_bolus
    if pb is not None:
        console.print(
            f"bolus {'available' if pb.available else 'not available'}: {pb.message}; "
            f"{pb.count_24h} of {pb.max_per_24h} in the last 24 h",
            markup=False,
        )


@patient_app.command("ack", cls=OneLineErrorsCommand)
def ack(
    alarm: str = typer.Argument(..., help="Alarm kind, e.g. low_reservoir."),
    state: Path = STATE,
    pump: str = PUMP,
    json_out: bool = JSON,
) -> None:
    """Acknowledge (silence) an active alarm."""
    with user_errors():
        kinds = [kind.value for kind in AlarmKind]
        if alarm not in kinds:
            raise ValueError(f"alarm: {alarm!r} is not an alarm; accepted: {', '.join(kinds)}")
    with connected(state, pump, Role.PATIENT) as c, link_errors():
        result = workflows.acknowledge_alarm(c.link, alarm)
    if json_out:
        emit_json({**plain(result), "resolved_pending": resolved_json(c.resolved)})
    else:
        show_resolved(c.resolved)
        console.print(result.message, markup=False)
    if not result.acknowledged:
        raise typer.Exit(EXIT_REFUSED)
