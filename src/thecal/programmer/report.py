"""An interrogation report as the clinician reads it: the same lines on the command line
and on the clinic's pump session page, the pump's own report and then what its security
log says about the link."""

from __future__ import annotations

from thecal.link.events import REFUSALS
from thecal.link.messages import SecurityDigest
from thecal.pump.payloads import InterrogationReport

__all__ = ["report_summary", "security_summary"]


def report_summary(report: InterrogationReport) -> list[tuple[str, str]]:
    """The interrogation at a glance, as (what, value) lines: pump, pump time, therapy,
    delivery, prescription, estimated reservoir, low-reservoir alarm date, battery, a
    running bolus and every alarm. Times are the pump's local clock."""
    rx = report.prescription
    rows = [
        ("pump", f"{report.serial} ({report.model_id})"),
        ("pump time", f"{report.local_time:%Y-%m-%d %H:%M}"),
        ("therapy", f"{report.therapy.state.value}: {report.therapy.reason}"),
        (
            "delivering",
            f"{report.therapy.dose_rate} ({report.therapy.volume_rate})"
            if report.therapy.delivering
            else "no",
        ),
        (
            "prescription",
            f"{rx.drug} {rx.concentration} {rx.mode.value} "
            f"[{report.prescription_hash and report.prescription_hash[:16]}]"
            if rx
            else "none",
        ),
        (
            "reservoir (estimated)",
            f"{report.reservoir.estimated} of {report.reservoir.capacity}, "
            f"{report.reservoir.drug} {report.reservoir.concentration}",
        ),
        (
            "low-reservoir alarm",
            f"{report.reservoir.low_alarm_at:%Y-%m-%d %H:%M}"
            if report.reservoir.low_alarm_at
            else "not projected",
        ),
        (
            "battery",
            f"{report.battery.state.value}"
            + (
                f", {float(report.battery.level) * 100:.1f} %"
                if report.battery.level is not None
                else ""
            ),
        ),
    ]
    if report.bolus is not None:
        rows.append(
            (
                "bolus running",
                f"{report.bolus.kind.value} {report.bolus.dose} until {report.bolus.ends_at:%H:%M}",
            )
        )
    for alarm in report.alarms:
        ack = " (acknowledged)" if alarm.acknowledged_at else ""
        rows.append(("ALARM", f"{alarm.kind.value} [{alarm.priority.value}]{ack}"))
    return rows


def security_summary(digest: SecurityDigest) -> list[tuple[str, str]]:
    """The link's security log at a glance, as (what, value) lines: every notable record
    of the page (enrolments, revocations, emergency sessions, refusals with their counts),
    then the lifetime refusal counts, then the head of the log's hash chain (keep it: a
    history rewritten later would not match). Times are the pump's local clock."""
    rows = []
    for event in digest.events:
        times = f" ×{event.count}" if event.count > 1 else ""
        who = f" [{event.key_id}]" if event.key_id else ""
        rows.append(
            (
                f"security {event.kind.value}{times}",
                f"{event.at:%Y-%m-%d %H:%M} {event.detail}{who}",
            )
        )
    if digest.more:
        rows.append(("security", "more records wait: read the log again from the last one"))
    refused = [(c.kind.value, c.count) for c in digest.counts if c.kind in REFUSALS and c.count]
    rows.append(
        (
            "link refusals (lifetime)",
            ", ".join(f"{kind} {count}" for kind, count in refused) or "none",
        )
    )
    rows.append(("security log head", f"#{digest.head_seq} {digest.head_hash[:16]}"))
    return rows
