"""The pump's security log: bounded, rate-limited into counts, hash-chained, rotated on disk
with a cap, and what reaches the clinic."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.link.pumps import T0, simulated_pump
from thecal.link.events import (
    REPEAT_BURST,
    REPEAT_WINDOW,
    LoggedEvent,
    SecurityEvent,
    SecurityEventKind,
    SecurityLog,
    verify_chain,
)
from thecal.link.frame import Frame, FrameType, encode_frame
from thecal.link.keys import StaticKey
from thecal.link.messages import EnrolController, ReadSecurityLog, SecurityDigest
from thecal.link.security_file import (
    DISK_CAP,
    LOG_FILE,
    SecurityLogFile,
    log_files,
    read_security_log,
    verify_security_log,
)
from thecal.pump.commands import Accepted, Role

Kind = SecurityEventKind


def _event(
    kind: Kind = Kind.SESSION_UNKNOWN, at: datetime = T0, detail: str = "x"
) -> SecurityEvent:
    return SecurityEvent(kind, at, detail)


def test_a_flood_of_one_kind_becomes_a_few_records_and_an_exact_count() -> None:
    log = SecurityLog()
    for i in range(10_000):
        log.record(_event(at=T0 + timedelta(milliseconds=i)))
    log.flush(T0 + REPEAT_WINDOW)
    assert log.counts[Kind.SESSION_UNKNOWN] == 10_000
    records = log.of(Kind.SESSION_UNKNOWN)
    assert len(records) == REPEAT_BURST + 1
    summary = records[-1]
    assert summary.count == 10_000 - REPEAT_BURST and "repeated" in summary.detail
    assert sum(r.count for r in records) == 10_000


def test_each_window_records_its_own_burst() -> None:
    log = SecurityLog()
    for minute in range(3):
        for _ in range(REPEAT_BURST + 3):
            log.record(_event(at=T0 + timedelta(minutes=minute)))
    log.flush(T0 + timedelta(minutes=5))
    assert len(log.of(Kind.SESSION_UNKNOWN)) == 3 * (REPEAT_BURST + 1)


def test_a_flood_cannot_push_a_change_of_who_may_talk_out_of_the_clinics_view() -> None:
    log = SecurityLog(keep=64, keep_notable=16)
    log.record(_event(Kind.REVOKED, detail="revoked 0123456789abcdef"))
    for i in range(100_000):
        kind = list(Kind)[i % 5]  # five kinds of junk, cycling
        log.record(_event(kind, T0 + timedelta(milliseconds=i)))
    assert any(r.event.kind is Kind.REVOKED for r in log.notable())


def test_the_chain_links_every_record_and_any_edit_breaks_it() -> None:
    log = SecurityLog()
    for i in range(20):
        log.record(_event(list(Kind)[i % len(Kind)], T0 + timedelta(seconds=i), f"event {i}"))
    records = list(log.records)
    assert verify_chain(records, anchor="0" * 64) is None
    edited = list(records)
    edited[7] = replace(edited[7], event=replace(edited[7].event, detail="nothing happened"))
    assert verify_chain(edited).position == 7  # type: ignore[union-attr]
    removed = records[:7] + records[8:]
    assert verify_chain(removed).position == 7  # type: ignore[union-attr]
    reordered = [records[1], records[0], *records[2:]]
    assert verify_chain(reordered) is not None


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(Kind)), st.integers(0, 600)), max_size=60))
def test_whatever_is_recorded_the_chain_verifies_and_counts_are_exact(
    events: list[tuple[Kind, int]],
) -> None:
    log = SecurityLog(burst=2)
    for kind, second in sorted(events, key=lambda e: e[1]):
        log.record(_event(kind, T0 + timedelta(seconds=second)))
    log.flush(T0 + timedelta(hours=1))
    assert verify_chain(log.records) is None
    for kind in Kind:
        assert sum(r.count for r in log.of(kind)) == log.counts[kind]


def test_the_file_rotates_and_never_exceeds_its_cap(tmp_path: Path) -> None:
    small = 4096
    sink = SecurityLogFile(tmp_path, max_bytes=small, kept_files=2)
    log = SecurityLog(sink=sink.append, burst=10_000)
    for i in range(2000):
        log.record(_event(at=T0 + timedelta(seconds=i), detail="y" * 40))
    sink.close()
    files = log_files(tmp_path)
    assert len(files) == 3
    assert sum(f.stat().st_size for f in files) <= 3 * small
    assert verify_security_log(tmp_path) is None  # unbroken across the files kept
    assert DISK_CAP == 5 * 1024 * 1024


def test_a_restarted_pump_continues_the_chain_and_a_torn_line_is_reported(tmp_path: Path) -> None:
    first = SecurityLogFile(tmp_path)
    log = SecurityLog(sink=first.append)
    log.record(_event())
    log.record(_event(Kind.ENROLLED))
    first.close()
    again = SecurityLogFile(tmp_path)
    resumed = SecurityLog(sink=again.append, head=again.head())
    resumed.record(_event(Kind.REVOKED))
    again.close()
    records, problems = read_security_log(tmp_path)
    assert [r.seq for r in records] == [1, 2, 3] and problems == []
    assert verify_chain(records) is None
    with (tmp_path / LOG_FILE).open("ab") as handle:
        handle.write(b'{"seq": 4, "kind": "rev')  # killed mid-write
    assert verify_security_log(tmp_path) is not None
    assert SecurityLogFile(tmp_path).head() == (3, records[-1].hash)


def test_a_doctored_record_on_disk_is_found(tmp_path: Path) -> None:
    sink = SecurityLogFile(tmp_path)
    log = SecurityLog(sink=sink.append)
    for i in range(5):
        log.record(_event(Kind.ENROLLED, T0 + timedelta(seconds=i), f"enrolled {i}"))
    sink.close()
    lines = (tmp_path / LOG_FILE).read_text().splitlines()
    record = json.loads(lines[2])
    record["detail"] = "nothing to see"
    lines[2] = json.dumps(record)
    (tmp_path / LOG_FILE).write_text("\n".join(lines) + "\n")
    broken = verify_security_log(tmp_path)
    assert broken is not None and broken.position == 2


def test_a_random_session_data_flood_costs_a_few_records_not_a_record_a_frame() -> None:
    pump = simulated_pump()
    clinician = pump.controller(pump.enrol(Role.CLINICIAN))
    clinician.call(EnrolController(StaticKey.generate().public, Role.PATIENT, "PTM"))
    for _ in range(5000):
        junk = Frame(FrameType.DATA, 0, os.urandom(8 + 40))
        pump.endpoint.receive(encode_frame(junk))
    log = pump.endpoint.log
    assert log.counts[Kind.SESSION_UNKNOWN] == 5000
    assert len(log.of(Kind.SESSION_UNKNOWN)) <= REPEAT_BURST + 1
    answer = clinician.call(ReadSecurityLog())
    assert isinstance(answer, Accepted) and isinstance(answer.payload, SecurityDigest)
    digest = answer.payload
    assert any(e.kind is Kind.ENROLLED for e in digest.events)
    assert {c.kind: c.count for c in digest.counts}[Kind.SESSION_UNKNOWN] == 5000
    assert digest.head_hash == log.head


def test_the_digest_pages_and_fits_one_frame() -> None:
    pump = simulated_pump()
    clinician = pump.controller(pump.enrol(Role.CLINICIAN))
    for i in range(100):  # many distinct notable records
        pump.endpoint.log.record(_event(Kind.ENROLLED, pump.now(), "z" * 500 + str(i)))
        pump.advance(61)
    seen: list[int] = []
    since = 0
    while True:
        answer = clinician.call(ReadSecurityLog(since))
        assert isinstance(answer, Accepted) and isinstance(answer.payload, SecurityDigest)
        page = answer.payload
        seen += [e.seq for e in page.events]
        if not page.more:
            break
        since = page.events[-1].seq
    assert seen == sorted(set(seen)) and len(seen) >= 100


def test_logged_records_round_trip_through_their_saved_form() -> None:
    log = SecurityLog()
    log.record(SecurityEvent(Kind.REVOKED, T0, "revoked", "0123456789abcdef"))
    record = log.records[0]
    assert LoggedEvent.from_dict(json.loads(json.dumps(record.as_dict()))) == record
