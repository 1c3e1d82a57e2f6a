"""`thecal authority ...`: the clinic's (or the device maker's) credential authority.

    thecal authority create --dir AUTH --label "Example Pain Clinic"
    thecal authority issue --dir AUTH --public-key HEX --role clinician --label "Dr A" \\
        --days 365 --out credential.json
    thecal authority show --dir AUTH

The authority's public key is installed in a pump at implant (`thecal pump serve
--authority HEX`); a programmer holding a credential it signed (`thecal programmer
credential FILE`) may pair as a clinician, or open emergency sessions. The private key is
kept encrypted under a passphrase: ``THECAL_AUTHORITY_PASSPHRASE``, or typed when asked.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta
from getpass import getpass
from pathlib import Path

import typer

from thecal.cli.output import (
    OneLineErrorsCommand,
    OneLineErrorsGroup,
    console,
    emit_json,
    user_errors,
)
from thecal.link.authority import (
    CREDENTIAL_ROLES,
    AuthorityKey,
    authority_public,
    issue_credential,
    load_authority,
    save_authority,
)
from thecal.link.keys import parse_public_key
from thecal.link.storage import atomic_write_json
from thecal.pump.commands import Role

PASSPHRASE_VARIABLE = "THECAL_AUTHORITY_PASSPHRASE"

authority_app = typer.Typer(
    cls=OneLineErrorsGroup,
    help="Credential authority: create it, issue clinician and emergency credentials.",
    no_args_is_help=True,
)
DIR = typer.Option(..., "--dir", help="Directory holding the authority (owner-only).")
JSON = typer.Option(False, "--json", help="Print one JSON object.")


def secret_from_environment(variable: str, what: str, confirm: bool = False) -> bytes:
    """A passphrase from `variable`, or typed at the terminal; `ValueError` when neither
    is possible (a script must set the variable)."""
    value = os.environ.get(variable)
    if value:
        return value.encode()
    if not sys.stdin.isatty():
        raise ValueError(f"{what} is protected by a passphrase: set {variable}")
    typed = getpass(f"{what} passphrase: ")
    if confirm and getpass("again: ") != typed:
        raise ValueError("the two passphrases differ")
    if not typed:
        raise ValueError("an empty passphrase protects nothing")
    return typed.encode()


@authority_app.command("create", cls=OneLineErrorsCommand)
def create(
    directory: Path = DIR,
    label: str = typer.Option(..., "--label", help="Whose authority, e.g. the clinic's name."),
    json_out: bool = JSON,
) -> None:
    """Create a new authority key pair (the private key encrypted under a passphrase)."""
    with user_errors():
        passphrase = secret_from_environment(PASSPHRASE_VARIABLE, "the authority key", True)
        key = AuthorityKey.generate()
        save_authority(directory, key, label, passphrase)
    data = {"key_id": key.id, "public_key": key.public.hex(), "label": label}
    if json_out:
        emit_json(data)
    else:
        console.print(
            f"authority {key.id} ({label})\npublic key {key.public.hex()}\n"
            f"install it at implant: thecal pump serve ... --authority {key.public.hex()}",
            markup=False,
        )


@authority_app.command("show", cls=OneLineErrorsCommand)
def show(directory: Path = DIR, json_out: bool = JSON) -> None:
    """The authority's public key (what a pump is given to trust)."""
    with user_errors():
        data = authority_public(directory)
    if json_out:
        emit_json(data)
    else:
        console.print(
            f"authority {data['key_id']} ({data['label']})\npublic key {data['public_key']}",
            markup=False,
        )


@authority_app.command("issue", cls=OneLineErrorsCommand)
def issue(
    directory: Path = DIR,
    public_key: str = typer.Option(
        ..., "--public-key", help="The programmer's public key (thecal programmer identity)."
    ),
    role: str = typer.Option("clinician", "--role", help="clinician or emergency."),
    label: str = typer.Option(..., "--label", help="Who holds the programmer, e.g. Dr A."),
    days: int = typer.Option(365, "--days", help="Valid for this many days."),
    valid_from: str = typer.Option(
        None, "--from", help="Valid from (ISO date/time, pump-local; default now)."
    ),
    out: Path = typer.Option(None, "--out", help="Write the credential here (else stdout)."),
    json_out: bool = JSON,
) -> None:
    """Sign a credential for a programmer's key (give the file to the programmer)."""
    with user_errors():
        subject = parse_public_key(public_key, "--public-key")
        accepted = ", ".join(sorted(r.value for r in CREDENTIAL_ROLES))
        try:
            granted = Role(role)
        except ValueError:
            granted = None
        if granted not in CREDENTIAL_ROLES:
            raise ValueError(f"--role: {role!r}; accepted: {accepted}")
        assert granted is not None
        if not 1 <= days <= 3650:
            raise ValueError("--days: from 1 to 3650")
        start = (
            datetime.fromisoformat(valid_from)
            if valid_from
            else datetime.now().replace(microsecond=0)
        )
        if start.tzinfo is not None:
            raise ValueError("--from: give pump-local time without a zone, e.g. 2026-05-01T08:00")
        key = load_authority(
            directory, secret_from_environment(PASSPHRASE_VARIABLE, "the authority key")
        )
        credential = issue_credential(
            key, subject, granted, label, start, start + timedelta(days=days)
        )
        if out is not None:
            atomic_write_json(out, credential.to_dict())
    if out is None or json_out:
        print(json.dumps(credential.to_dict(), indent=None if json_out else 1))
    else:
        console.print(
            f"credential for {credential.subject_id} as {granted.value} until "
            f"{credential.not_after:%Y-%m-%d} written to {out}",
            markup=False,
        )
