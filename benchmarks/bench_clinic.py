"""Clinic service under load: 100,000 patients and implants on PostgreSQL.

    python3 dev.py bench clinic

1. Creates a fresh schema on the PostgreSQL server named by $THECAL_BENCH_POSTGRES_URL
   (else $THECAL_TEST_POSTGRES_URL, else postgresql://postgres@127.0.0.1:5432/test),
   migrates it, and bulk-loads (COPY) 100,000 patients, each with an implant, a
   prescription from examples/, two fills and two pain scores. Each implant's schedule
   (next refill, battery) is computed with the clinic's own rules: one projection per
   prescription template, shifted by the fill day (every fill at 09:00 UTC, so the shift
   is exact).
2. Serves the clinic (`thecal clinic serve`, one uvicorn process) on loopback.
3. From this second process, drives 4 and then 8 concurrent clients at three endpoints:
   the "refills due in the next 14 days" worklist, a random patient's page, and the
   baseline `GET /api/v1/health` (a database round trip through the same stack);
   prints p50/p95/p99 and throughput for each, and the ratio to the baseline.

Target: p95 ≤ 50 ms for the worklist and the patient page. The seed bypasses the
service (no audit entries for bulk rows); the schema is dropped at the end.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

PATIENTS = 100_000
CLIENT_LEVELS = (4, 8)
"""Concurrent clients: a clinic's nurses and clinicians at work, then twice that."""
REQUESTS_PER_ENDPOINT = 1_500
WARMUP = 200
TARGET_P95_MS = 50.0
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
PASSWORD = "benchmark-password"

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = (
    # (example file, pump model, share of patients, diagnosis)
    ("baclofen-flex-spasticity.toml", "peristaltic-40", 30, "spasticity_multiple_sclerosis"),
    ("morphine-cancer-pain-ptm.toml", "peristaltic-20", 30, "cancer_pain"),
    ("ziconotide-titration-start.toml", "peristaltic-20", 10, "crps"),
    ("checks/morphine-current.toml", "valve-accumulator-40", 20, "failed_back_surgery_syndrome"),
    ("checks/hydromorphone-off-label.toml", "peristaltic-40", 10, "arachnoiditis"),
)


def _url() -> str:
    return (
        os.environ.get("THECAL_BENCH_POSTGRES_URL")
        or os.environ.get("THECAL_TEST_POSTGRES_URL")
        or DEFAULT_URL
    )


def _plain(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class Template:
    drug: str
    concentration: Any
    mode: str
    toml: str
    content_hash: str
    daily: Any
    worst: Any
    pump: Any
    diagnosis: str
    due_after: timedelta
    low_after: timedelta | None
    empty_after: timedelta | None
    stability_after: timedelta
    limited_by: str
    high_risk: bool
    replacement_after: timedelta | None
    eri_after: timedelta | None
    eos_after: timedelta | None


def _templates(base: datetime) -> list[tuple[Template, int]]:
    """Each example prescription with its schedule computed once by the clinic's rules."""
    from thecal.clinic.battery import battery_outlook
    from thecal.clinic.policy import default_policy
    from thecal.clinic.refill_schedule import refill_outlook
    from thecal.therapy.delivery import programmed_daily_dose, worst_case_daily_dose
    from thecal.therapy.library import default_library
    from thecal.therapy.prescription_toml import prescription_to_toml, read_prescription
    from thecal.therapy.pump_models import find_pump_model
    from thecal.therapy.quantities import DoseRate
    from thecal.therapy.refill import DeliveryPeriod, ReservoirAnchor

    library, policy = default_library(), default_policy()
    made = []
    for example, model_id, share, diagnosis in TEMPLATES:
        rx = read_prescription(ROOT / "examples" / example)
        pump = find_pump_model(model_id)
        drug = library.get(rx.drug)
        high_risk = drug.high_risk_withdrawal.value
        plan = refill_outlook(
            ReservoirAnchor(base, pump.reservoir.value),
            base,
            [DeliveryPeriod(base - timedelta(days=400), rx)],
            pump,
            pump.default_low_reservoir_alarm.value,
            drug.refill_limit(rx.concentration).value,
            policy.margin(high_risk).value,
            ZoneInfo("UTC"),
        )
        outlook = battery_outlook(model_id, base, plan.average_volume_rate, policy)
        minimum = pump.minimum_rate.value

        def after(moment: datetime | None) -> timedelta | None:
            return None if moment is None else moment - base

        made.append(
            (
                Template(
                    drug=rx.drug,
                    concentration=rx.concentration,
                    mode=rx.mode.value,
                    toml=prescription_to_toml(rx),
                    content_hash=rx.content_hash,
                    daily=DoseRate(programmed_daily_dose(rx, minimum).amount),
                    worst=DoseRate(worst_case_daily_dose(rx, minimum).amount),
                    pump=pump,
                    diagnosis=diagnosis,
                    due_after=plan.refill_due - base,
                    low_after=after(plan.low_alarm_at),
                    empty_after=after(plan.empty_at),
                    stability_after=plan.stability_limit_at - base,
                    limited_by=plan.limited_by.value,
                    high_risk=high_risk,
                    replacement_after=after(outlook.replacement_due) if outlook else None,
                    eri_after=after(outlook.eri_at) if outlook else None,
                    eos_after=after(outlook.eos_at) if outlook else None,
                ),
                share,
            )
        )
    return made


def _naive(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


def _copy(cursor: Any, table: str, columns: tuple[str, ...], rows: Any) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def seed(connection: Any, now: datetime, rng: random.Random) -> dict[str, float]:
    """Bulk-load the clinic; returns rows per table and the time taken."""
    from thecal.clinic.auth import PasswordProfile, PasswordService

    started = time.perf_counter()
    base = datetime(2020, 1, 1, 9, 0, tzinfo=UTC)
    templates = _templates(base)
    weights = [share for _, share in templates]
    choice = rng.choices([t for t, _ in templates], weights, k=PATIENTS)
    today = now.replace(hour=9, minute=0, second=0, microsecond=0)
    fills: list[datetime] = []
    implanted: list[datetime] = []
    for template in choice:
        interval = template.due_after.days or 1
        # The last fill lies so that due dates spread from a few days overdue to a full
        # interval ahead; the implant went in 1-6 years ago.
        fills.append(today - timedelta(days=rng.randint(0, interval + 3)))
        implanted.append(today - timedelta(days=rng.randint(400, 2000)))
    cursor = connection.cursor()
    created = _naive(now)
    counts: dict[str, float] = {}
    sexes = ("female", "male")
    counts["patients"] = _copy(
        cursor,
        "patients",
        ("id", "mrn", "given_name", "family_name", "birth_date", "sex", "weight_kg",
         "diagnosis", "withdrawal_risk_factors", "note", "created_at", "version"),
        (
            (i + 1, f"B{i + 1:07d}", f"Given{i % 977}", f"Family{(i * 7919) % 50021:05d}",
             date(1940 + i % 60, 1 + i % 12, 1 + i % 28), sexes[i % 2], str(50 + i % 50),
             choice[i].diagnosis, "[]", "", created, 1)
            for i in range(PATIENTS)
        ),
    )  # fmt: skip

    def implant_row(i: int) -> tuple[Any, ...]:
        t, fill = choice[i], fills[i]
        at = implanted[i]
        eri = _naive(at + t.eri_after) if t.eri_after is not None else None
        eos = _naive(at + t.eos_after) if t.eos_after is not None else None
        replacement = _naive(at + t.replacement_after) if t.replacement_after is not None else None
        return (
            i + 1, i + 1, "active", t.pump.id, f"S{i + 1:08d}", str(t.pump.reservoir.value.amount),
            str(t.pump.default_low_reservoir_alarm.value.amount), _naive(at), "generic-two-piece",
            "104", "70", "T10", "", 1, t.high_risk, _naive(fill + t.due_after), t.limited_by,
            _naive(fill + t.low_after) if t.low_after else None,
            _naive(fill + t.empty_after) if t.empty_after else None,
            _naive(fill + t.stability_after), eri, eos, replacement,
            "pump twin battery model" if replacement else None,
        )  # fmt: skip

    counts["implants"] = _copy(
        cursor,
        "implants",
        ("id", "patient_id", "status", "pump_model", "serial", "reservoir", "low_reservoir_alarm",
         "implanted_at", "catheter_model", "catheter_length_cm", "catheter_trimmed_length_cm",
         "catheter_tip_level", "note", "version", "high_risk", "next_refill_due",
         "refill_limited_by", "low_alarm_at", "empty_at", "stability_limit_at", "battery_eri_at",
         "battery_eos_at", "replacement_due", "battery_basis"),
        (implant_row(i) for i in range(PATIENTS)),
    )  # fmt: skip
    counts["prescriptions"] = _copy(
        cursor,
        "prescriptions",
        ("id", "implant_id", "patient_id", "status", "active_from", "entered_at", "drug",
         "concentration", "mode", "daily_dose", "worst_case_daily_dose", "content_hash", "toml",
         "verdicts", "override_reasons", "note"),
        (
            (i + 1, i + 1, i + 1, "active", _naive(implanted[i]), _naive(implanted[i]),
             choice[i].drug, str(choice[i].concentration.amount), choice[i].mode,
             str(choice[i].daily.amount), str(choice[i].worst.amount), choice[i].content_hash,
             choice[i].toml, "[]", "{}", "")
            for i in range(PATIENTS)
        ),
    )  # fmt: skip
    volume = {i: str(choice[i].pump.reservoir.value.amount) for i in range(PATIENTS)}
    counts["refills"] = _copy(
        cursor,
        "refills",
        ("implant_id", "patient_id", "performed_at", "discrepancy", "discrepancy_message", "drug",
         "concentration", "lot", "volume_added", "first_fill", "note"),
        (
            row
            for i in range(PATIENTS)
            for row in (
                (i + 1, i + 1, _naive(implanted[i]), "none", "", choice[i].drug,
                 str(choice[i].concentration.amount), "LOT-A", volume[i], True, ""),
                (i + 1, i + 1, _naive(fills[i]), "none", "", choice[i].drug,
                 str(choice[i].concentration.amount), "LOT-B", volume[i], False, ""),
            )
        ),
    )  # fmt: skip
    counts["pain_assessments"] = _copy(
        cursor,
        "pain_assessments",
        ("patient_id", "assessed_at", "score", "regions", "note"),
        (
            (i + 1, _naive(now - timedelta(days=d)), (i + d) % 11, "[]", "")
            for i in range(PATIENTS)
            for d in (3, 40)
        ),
    )  # fmt: skip
    for table in ("patients", "implants", "prescriptions", "refills", "pain_assessments"):
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )
    hasher = PasswordService(PasswordProfile.TESTING_ONLY)
    cursor.execute(
        "INSERT INTO users (username, display_name, role, password_hash, active, created_at, "
        "version) VALUES ('bench', 'bench', 'clinician', %s, true, %s, 1)",
        (hasher.hash(PASSWORD), created),
    )
    connection.commit()
    counts["seconds"] = time.perf_counter() - started
    return counts


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(url: str, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "THECAL_PASSWORD_PROFILE": "cheapest-testing-only"}
    server = subprocess.Popen(
        [sys.executable, "-m", "thecal.cli.main", "clinic", "serve", "--database", url,
         "--port", str(port), "--log-level", "info"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert server.stderr is not None
    for line in server.stderr:
        if "Application startup complete" in line:
            threading.Thread(target=server.stderr.read, daemon=True).start()  # keep draining
            return server
    raise RuntimeError(f"the clinic server did not start (exit {server.wait()})")


def _drive(base: str, token: str, paths: list[str], clients: int) -> tuple[list[float], float]:
    """Send every path once, from `clients` concurrent connections; latencies in ms."""
    import httpx

    latencies: list[float] = []
    lock = threading.Lock()
    queue = iter(paths)
    failures: list[str] = []

    def client() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as session:
            while True:
                with lock:
                    path = next(queue, None)
                if path is None:
                    return
                begin = time.perf_counter()
                reply = session.get(path)
                took = (time.perf_counter() - begin) * 1000
                if reply.status_code != 200:
                    failures.append(f"{path}: {reply.status_code} {reply.text[:200]}")
                with lock:
                    latencies.append(took)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, e.g. {failures[0]}")
    return latencies, time.perf_counter() - started


def _figures(name: str, latencies: list[float], seconds: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    cut = statistics.quantiles(ordered, n=100)
    return {
        "name": name,
        "p50": statistics.median(ordered),
        "p95": cut[94],
        "p99": cut[98],
        "per_second": len(ordered) / seconds,
    }


def _measure(
    base: str, token: str, worklist: list[str], clients: int, rng: random.Random
) -> list[dict[str, Any]]:
    endpoints: dict[str, list[str]] = {
        "baseline GET /health": ["/health"] * REQUESTS_PER_ENDPOINT,
        "refills due (14 days)": worklist * REQUESTS_PER_ENDPOINT,
        "patient page": [
            f"/patients/{rng.randint(1, PATIENTS)}/page" for _ in range(REQUESTS_PER_ENDPOINT)
        ],
    }
    results = []
    for name, paths in endpoints.items():
        latencies, seconds = _drive(base, token, paths, clients)
        results.append(_figures(name, latencies, seconds))
    return results


def _report(clients: int, results: list[dict[str, Any]]) -> None:
    baseline = results[0]
    print(
        f"\n{clients} concurrent clients in a second process, {REQUESTS_PER_ENDPOINT} requests "
        "per endpoint, one uvicorn server process, loopback, PostgreSQL:"
    )
    print(f"{'endpoint':26} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8} "
          f"{'p95/base':>9}  target")  # fmt: skip
    for figures in results:
        ratio = figures["p95"] / baseline["p95"]
        verdict = ""
        if figures is not baseline:
            ok = figures["p95"] <= TARGET_P95_MS
            verdict = f"p95 ≤ {TARGET_P95_MS:.0f} ms: {'met' if ok else 'NOT met'}"
        print(
            f"{figures['name']:26} {figures['p50']:8.1f} {figures['p95']:8.1f} "
            f"{figures['p99']:8.1f} {figures['per_second']:8.0f} {ratio:8.1f}x  {verdict}"
        )


def main() -> None:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a pinned dependency
        print("bench clinic: psycopg is not installed; run it through python3 dev.py bench")
        return
    url = _url()
    try:
        admin = psycopg.connect(_plain(url), autocommit=True, connect_timeout=3)
    except psycopg.Error as error:
        print(
            "bench clinic: needs a PostgreSQL server and could not reach one at "
            f"{url.split('@')[-1]} ({str(error).strip().splitlines()[0]}).\n"
            "Set THECAL_BENCH_POSTGRES_URL (or THECAL_TEST_POSTGRES_URL) to a server where "
            "it may create and drop a schema, e.g. postgresql://postgres@127.0.0.1:5432/test"
        )
        return
    from sqlalchemy.engine import make_url

    from thecal.clinic.storage import migrate
    from thecal.clinic.storage.database import Database

    reuse = os.environ.get("THECAL_BENCH_SCHEMA")  # an already seeded schema, kept afterwards
    schema = reuse or f"bench_clinic_{uuid.uuid4().hex[:8]}"
    server: subprocess.Popen[str] | None = None
    rng = random.Random(20260301)
    try:
        if not reuse:
            admin.execute(f'CREATE SCHEMA "{schema}"')
            database = Database(url, schema=schema)
            migrate.upgrade(database)
            database.dispose()
            with psycopg.connect(_plain(url), options=f"-csearch_path={schema}") as connection:
                counts = seed(connection, datetime.now(UTC), rng)
            admin.execute(f'SET search_path = "{schema}"')
            admin.execute("VACUUM ANALYZE")  # as autovacuum would have done by now
            rows = {k: int(v) for k, v in counts.items() if k != "seconds"}
            rate = sum(rows.values()) / counts["seconds"]
            print(f"seeded {rows} in {counts['seconds']:.1f} s ({rate:,.0f} rows/s)")
        served_url = (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        port = _free_port()
        server = _serve(served_url, port)
        base = f"http://127.0.0.1:{port}/api/v1"
        import httpx

        token = httpx.post(
            f"{base}/auth/login", json={"username": "bench", "password": PASSWORD}
        ).json()["token"]
        due = httpx.get(f"{base}/worklists/refills-due?within_days=14",
                        headers={"Authorization": f"Bearer {token}"}).json()  # fmt: skip
        print(
            f"refills due within 14 days: {due['total']:,} "
            f"({due['high_risk_total']:,} high-risk, {due['overdue_total']:,} overdue); "
            f"first page {len(due['items'])} rows"
        )
        worklist = ["/worklists/refills-due?within_days=14&limit=50"]
        _drive(base, token, ["/health"] * WARMUP + worklist * WARMUP, max(CLIENT_LEVELS))
        for clients in CLIENT_LEVELS:
            _report(clients, _measure(base, token, worklist, clients, rng))
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if not reuse:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


if __name__ == "__main__":
    main()
