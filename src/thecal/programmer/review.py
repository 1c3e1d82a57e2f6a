"""The review before any pump update: pending and current settings side by side, with
the safety verdicts, for the clinician to check line by line (the "Finish screen" that
real programmers made mandatory after programming errors).

`review` is pure: it runs the one safety evaluator (`thecal.therapy.safety.evaluate`)
and lays out every setting of both prescriptions, including the derived daily doses and
volume rate a clinician should see change, marking each row that differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from thecal.therapy.delivery import programmed_daily_dose, worst_case_daily_dose
from thecal.therapy.library import DrugLibrary
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.pump_models import PumpModel
from thecal.therapy.quantities import DoseRate
from thecal.therapy.safety import Confirmation, Context, Evaluation, Rule, confirm, evaluate

__all__ = ["Review", "SettingRow", "review", "settings_of", "side_by_side"]


@dataclass(frozen=True)
class SettingRow:
    """One line of the side-by-side review."""

    setting: str
    current: str | None
    pending: str | None

    @property
    def changed(self) -> bool:
        return self.current != self.pending


@dataclass(frozen=True)
class Review:
    """What the clinician confirms: the proposal, the verdicts and the side-by-side rows."""

    proposed: Prescription
    current: Prescription | None
    evaluation: Evaluation
    rows: tuple[SettingRow, ...]

    @property
    def content_hash(self) -> str:
        return self.proposed.content_hash

    @property
    def changes(self) -> tuple[SettingRow, ...]:
        return tuple(row for row in self.rows if row.changed)

    @property
    def needs_reasons(self) -> tuple[Rule, ...]:
        """Soft limits the clinician must give a reason to override."""
        return tuple(v.rule for v in self.evaluation.warnings)

    def confirm(self, reasons: Mapping[Rule | str, str]) -> Confirmation:
        return confirm(self.evaluation, reasons)


def _per_day(prescription: Prescription, worst: bool, pump: PumpModel | None) -> str:
    minimum = pump.minimum_rate.value if pump is not None else None
    if prescription.mode is Mode.MINIMUM_RATE and minimum is None:
        return "minimum rate of the pump"
    mass = (worst_case_daily_dose if worst else programmed_daily_dose)(prescription, minimum)
    return str(DoseRate(mass.amount))


def settings_of(prescription: Prescription | None, pump: PumpModel | None) -> dict[str, str]:
    """Every setting of a prescription as display text, in review order."""
    if prescription is None:
        return {}
    rx = prescription
    rows: dict[str, str] = {
        "drug": rx.drug,
        "concentration": str(rx.concentration),
        "mode": rx.mode.value.replace("_", " "),
    }
    if rx.rate is not None:
        rows["rate"] = str(rx.rate)
    for step in rx.steps:
        rows[f"flex step from {step.start}"] = str(step.dose_rate)
    if rx.bolus is not None:
        rows["single bolus"] = f"{rx.bolus.dose} over {rx.bolus.duration}"
    if rx.periodic is not None:
        p = rx.periodic
        rows["periodic bolus"] = (
            f"{p.bolus.dose} over {p.bolus.duration} every {p.interval} from {p.first_start}"
        )
    if rx.patient_bolus is not None:
        pb = rx.patient_bolus
        rows["patient bolus dose"] = f"{pb.dose} over {pb.duration}"
        rows["patient bolus lockout"] = str(pb.lockout)
        rows["patient boluses per 24 h"] = str(pb.max_per_24h)
    rows["programmed daily dose"] = _per_day(rx, False, pump)
    rows["worst-case daily dose"] = _per_day(rx, True, pump)
    if rx.mode is not Mode.MINIMUM_RATE or pump is not None:
        minimum = pump.minimum_rate.value if pump is not None else None
        daily = DoseRate(programmed_daily_dose(rx, minimum).amount)
        rows["average volume rate"] = str(daily.to_volume_rate(rx.concentration))
    rows["content hash"] = rx.content_hash[:16]
    return rows


def side_by_side(
    current: Prescription | None, proposed: Prescription, pump: PumpModel | None
) -> tuple[SettingRow, ...]:
    """Rows for every setting present in either prescription (current first order)."""
    before, after = settings_of(current, pump), settings_of(proposed, pump)
    names = list(after)
    for name in before:
        if name not in after:
            names.insert(min(len(names), list(before).index(name)), name)
    return tuple(SettingRow(name, before.get(name), after.get(name)) for name in names)


def review(proposed: Prescription, library: DrugLibrary, context: Context) -> Review:
    """Evaluate `proposed` against the library in `context` (the current prescription, the
    pump, the last increase and the time now), and lay proposed and current side by side."""
    evaluation = evaluate(proposed, library, context)
    current, pump = context.current, context.pump
    return Review(proposed, current, evaluation, side_by_side(current, proposed, pump))
