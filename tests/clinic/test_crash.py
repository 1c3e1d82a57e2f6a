"""kill -9 of a served clinic under write load: every write the server acknowledged is
still there afterwards, and the audit chain still verifies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, text

from tests.clinic.conftest import ClinicDatabase
from tests.clinic.support import PASSWORD, SETTINGS, add_patient, add_user
from thecal.clinic import audit
from thecal.clinic.access import Role
from thecal.clinic.service import Clinic, FixedClock
from thecal.clinic.storage.models import PainAssessment

ACKNOWLEDGED_BEFORE_KILL = 150
WRITERS = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(url: str, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "THECAL_PASSWORD_PROFILE": "cheapest-testing-only"}
    server = subprocess.Popen(
        [sys.executable, "-m", "thecal.cli.main", "clinic", "serve", "--database", url,
         "--port", str(port), "--log-level", "info"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert server.stderr is not None
    for line in server.stderr:  # blocks until uvicorn says it is listening (no sleeping)
        if "Application startup complete" in line:
            return server
    raise AssertionError(f"the server did not start (exit {server.wait()})")


def test_kill_9_under_write_load_loses_no_acknowledged_write(test_db: ClinicDatabase) -> None:
    # Seed with times in the past so that the server's real clock accepts every entry.
    clinic = Clinic(test_db.database, SETTINGS, FixedClock(datetime.now(UTC) - timedelta(days=1)))
    patient = add_patient(clinic, "CRASH-1")
    add_user(clinic, "nurse", Role.NURSE)
    port = free_port()
    server = start_server(test_db.url, port)
    base = f"http://127.0.0.1:{port}/api/v1"
    acknowledged: list[int] = []
    lock = threading.Lock()
    enough = threading.Event()
    try:
        credentials = {"username": "nurse", "password": PASSWORD}
        token = httpx.post(f"{base}/auth/login", json=credentials).json()["token"]

        def write(worker: int) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as session:
                for n in range(10_000):
                    try:
                        reply = session.post(
                            f"/patients/{patient.id}/pain-assessments",
                            json={"score": n % 11, "note": f"writer {worker} entry {n}"},
                        )
                    except httpx.HTTPError:
                        return  # the server is gone
                    assert reply.status_code == 201, reply.text
                    with lock:
                        acknowledged.append(reply.json()["id"])
                        if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                            enough.set()

        writers = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
        for writer in writers:
            writer.start()
        assert enough.wait(timeout=120), "the server did not acknowledge enough writes"
        os.kill(server.pid, signal.SIGKILL)  # mid-flight: writers still sending
        for writer in writers:
            writer.join(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
    with test_db.database.reading() as session:
        stored = set(session.scalars(select(PainAssessment.id)))
        missing = set(acknowledged) - stored
        assert not missing, f"acknowledged but lost: {sorted(missing)[:10]}"
        result = audit.verify_chain(session)
        assert result.ok, result.problems
        assert result.entries >= len(acknowledged)
        if test_db.backend == "sqlite":
            assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
