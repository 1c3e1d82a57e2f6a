"""`thecal tour`: a short guided walk through the checks and calculators on the
prescriptions in `examples/`, with the command that does each step on its own.

Deterministic: every time and file is fixed, so the tour reads the same each run.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from thecal.cli import calc
from thecal.cli.output import console, emit_json, fail
from thecal.cli.therapy import check_payload, render_check
from thecal.cli.therapy_support import open_prescription, pick_pump
from thecal.therapy.calculators.bridge import bridge_for_change, solution_change
from thecal.therapy.calculators.fluid_path import fluid_path
from thecal.therapy.calculators.priming import priming_for_path, priming_rate
from thecal.therapy.calculators.refill import refill_forecast
from thecal.therapy.calculators.titration_plan import titration_plan
from thecal.therapy.library import default_library
from thecal.therapy.pump_models import find_catheter_model
from thecal.therapy.quantities import Duration, Mass, Volume
from thecal.therapy.safety import Context
from thecal.therapy.units import parse_concentration, parse_dose_rate, parse_length_cm, parse_mass

__all__ = ["tour"]

FILL_TIME = datetime(2026, 3, 2, 8, 0)
"""The tour's fixed fill time (the pump's local clock)."""


def _examples_dir(given: str | None) -> Path:
    if given is not None:
        candidates = [Path(given)]
    else:
        # From a checkout: ./examples, or the repository's examples next to src/.
        candidates = [Path("examples"), Path(__file__).resolve().parents[3] / "examples"]
    for candidate in candidates:
        if (candidate / "baclofen-flex-spasticity.toml").is_file():
            return candidate
    fail(
        f"--examples: no example prescriptions found in {', '.join(map(str, candidates))}; "
        "accepted: the examples/ directory of a thecal checkout"
    )


class _Tour:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.sections: list[dict[str, Any]] = []

    def section(self, title: str, why: str, command: str) -> None:
        self.sections.append({"title": title, "why": why, "command": command, "result": None})
        if not self.as_json:
            from rich.rule import Rule  # text output only

            console.print()
            console.print(Rule(f"[bold]{len(self.sections)}. {title}[/bold]", align="left"))
            console.print(why, highlight=False)
            console.print(f"[dim]$ {command}[/dim]", highlight=False)

    def result(self, payload: dict[str, Any], show: Any) -> None:
        self.sections[-1]["result"] = payload
        if not self.as_json:
            show(payload)


def _rows(rows_of: Any) -> Any:
    return lambda payload: calc.show_rows(payload, rows_of(payload))


def tour(
    examples: str | None = typer.Option(
        None, "--examples", help="Directory with the example prescriptions (default: examples/)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """A guided walk through the checks and calculators on the example prescriptions."""
    folder = _examples_dir(examples)
    library = default_library()
    pump, _ = pick_pump(None)
    t = _Tour(as_json)
    rel = "examples"
    if not as_json:
        console.print(
            "[bold]thecal tour[/bold]: checks and calculators on the example prescriptions.\n"
            "[bold red]thecal is not a medical device[/bold red]: never use it to program a "
            "real pump or decide a real patient's treatment.\n"
            f"Pump model throughout: {pump.id} ({pump.label}); fills at "
            f"{FILL_TIME.isoformat(sep=' ', timespec='minutes')} on the pump's clock."
        )

    def check(name: str, current: str | None = None) -> dict[str, Any]:
        proposed = open_prescription(str(folder / name))
        running = open_prescription(str(folder / current)) if current else None
        return check_payload(proposed, library, pump, False, Context(running, pump=pump))

    # 1. Baclofen flex schedule --------------------------------------------------------
    t.section(
        "Check a baclofen flex schedule",
        "Every prescription goes through the one safety evaluator: drug library, pump "
        "capability, daily dose (worst case), bolus, titration and change rules.",
        f"thecal check {rel}/baclofen-flex-spasticity.toml --pump {pump.id}",
    )
    t.result(check("baclofen-flex-spasticity.toml"), render_check)

    baclofen = open_prescription(str(folder / "baclofen-flex-spasticity.toml"))
    t.section(
        "When is the baclofen refill due?",
        "Closed-form projection over the flex steps: the low-reservoir alarm date, capped "
        "by baclofen's stability in the pump (a missed baclofen refill risks withdrawal).",
        f"thecal calc refill --prescription {rel}/baclofen-flex-spasticity.toml "
        f"--reservoir '20 mL' --alarm-threshold '2 mL' --start {FILL_TIME.isoformat()}",
    )
    twenty, two = Volume.from_ml(20), Volume.from_ml(2)
    t.result(
        calc.refill_payload(refill_forecast(library, twenty, two, FILL_TIME,
                                            prescription=baclofen)),
        _rows(calc.refill_rows),
    )  # fmt: skip

    # 2. Morphine with patient boluses ------------------------------------------------
    t.section(
        "Morphine with patient boluses: the worst case counts",
        "The daily-dose limit and the refill date assume the patient uses every bolus the "
        "settings allow (dose × boluses in any 24 h).",
        f"thecal check {rel}/morphine-cancer-pain-ptm.toml",
    )
    t.result(check("morphine-cancer-pain-ptm.toml"), render_check)
    morphine = open_prescription(str(folder / "morphine-cancer-pain-ptm.toml"))
    t.section(
        "Morphine refill date, with and without patient boluses",
        "With worst-case boluses the alarm comes earlier; the clinic books the earlier date.",
        f"thecal calc refill --prescription {rel}/morphine-cancer-pain-ptm.toml "
        f"--reservoir '20 mL' --alarm-threshold '2 mL' --start {FILL_TIME.isoformat()} "
        "[--no-patient-boluses]",
    )
    with_boluses = calc.refill_payload(
        refill_forecast(library, twenty, two, FILL_TIME, prescription=morphine)
    )
    without = calc.refill_payload(
        refill_forecast(
            library, twenty, two, FILL_TIME, prescription=morphine, include_patient_boluses=False
        )
    )

    def show_both(payload: dict[str, Any]) -> None:
        calc.show_rows(with_boluses, calc.refill_rows(with_boluses))
        console.print("[dim]without patient boluses:[/dim]")
        calc.show_rows(without, calc.refill_rows(without)[3:5])

    t.result({"with_patient_boluses": with_boluses, "without_patient_boluses": without}, show_both)

    # 3. Classic errors ---------------------------------------------------------------
    t.section(
        "A per-hour value typed as per-day is refused",
        "12 mg/day against a current 0.5 mg/day is 24×: the hour/day slip and the tenfold "
        "rules both refuse it (exit code 3 from `thecal check`).",
        f"thecal check {rel}/checks/morphine-hour-day-slip.toml "
        f"--current {rel}/checks/morphine-current.toml",
    )
    t.result(check("checks/morphine-hour-day-slip.toml", "checks/morphine-current.toml"),
             render_check)  # fmt: skip
    t.section(
        "An off-label drug needs a stated reason",
        "Hydromorphone is not approved for implanted pumps: a warning, never hidden.",
        f"thecal check {rel}/checks/hydromorphone-off-label.toml",
    )
    t.result(check("checks/hydromorphone-off-label.toml"), render_check)

    # 4. Ziconotide -------------------------------------------------------------------
    ziconotide = library.get("ziconotide")
    t.section(
        "Ziconotide: start, titration plan and first-fill refill",
        "Start at no more than 2.4 mcg/day, increase by at most 2.4 mcg/day no sooner "
        "than every 24 h (48 h recommended); the first fill must be refilled within 14 days.",
        f"thecal check {rel}/ziconotide-titration-start.toml",
    )
    t.result(check("ziconotide-titration-start.toml"), render_check)
    t.section(
        "Ziconotide titration plan from the library's sourced limits",
        "Every number of the plan comes from the drug library, with its source.",
        "thecal calc titrate --drug ziconotide --concentration '25 mcg/mL' "
        f"--from {FILL_TIME.isoformat()}",
    )
    strength = parse_concentration("25 mcg/mL")
    t.result(
        calc.titrate_payload(
            titration_plan(ziconotide, concentration=strength), ziconotide, FILL_TIME
        ),
        calc.render_titrate,
    )
    start_rx = open_prescription(str(folder / "ziconotide-titration-start.toml"))
    t.section(
        "Ziconotide first fill: the stability limit sets the refill date",
        "At 2.4 mcg/day the reservoir would last months; the first-fill limit caps it.",
        f"thecal calc refill --prescription {rel}/ziconotide-titration-start.toml "
        "--reservoir '20 mL' --alarm-threshold '2 mL' --first-fill "
        f"--start {FILL_TIME.isoformat()}",
    )
    t.result(
        calc.refill_payload(
            refill_forecast(library, twenty, two, FILL_TIME, prescription=start_rx,
                            first_fill=True)
        ),
        _rows(calc.refill_rows),
    )  # fmt: skip

    # 5. Implant and drug change ------------------------------------------------------
    catheter = find_catheter_model("prometra-110")
    trimmed = "30 cm"
    t.section(
        "Priming bolus after implant",
        "Catheter volume (volume per cm × implanted length) plus the pump tubing volume.",
        f"thecal calc priming --catheter {catheter.id} --trimmed-length '{trimmed}' "
        f"--pump {pump.id}",
    )
    path = fluid_path(trimmed_length_cm=parse_length_cm(trimmed), catheter=catheter, pump=pump)
    t.result(
        calc.priming_payload(path, priming_for_path(path, priming_rate(None, pump))),
        _rows(calc.priming_rows),
    )
    t.section(
        "Bridge bolus on a concentration change (baclofen 500 → 2000 mcg/mL)",
        "The old solution still fills the tubing and catheter: run it at the OLD daily dose "
        "until the new solution reaches the tip.",
        f"thecal calc bridge --current {rel}/baclofen-flex-spasticity.toml "
        f"--new-concentration '2000 mcg/mL' --catheter {catheter.id} --trimmed-length "
        f"'{trimmed}' --pump {pump.id}",
    )
    change = solution_change(
        library,
        current=baclofen,
        new_concentration=parse_concentration("2000 mcg/mL"),
        pump=pump,
    )
    t.result(
        calc.bridge_payload(bridge_for_change(change, path.dead_volume, pump),
                            dict(path.provenance)),
        _rows(calc.bridge_rows),
    )  # fmt: skip

    # 6. Conversions and starts -------------------------------------------------------
    t.section(
        "Oral to intrathecal morphine",
        "Rule-of-thumb ratios from the sourced conversion table, rounded DOWN, with the "
        "warning that real patients range from 10:1 to 125:1.",
        "thecal calc convert --from oral --to intrathecal --dose '300 mg/day'",
    )
    t.result(
        calc.convert_payload(parse_dose_rate("300 mg/day"), "oral", "intrathecal"),
        _rows(calc.convert_rows),
    )
    t.section(
        "Baclofen start from a screening bolus",
        "Effect longer than 8 h: daily dose = screening dose; otherwise twice it.",
        "thecal calc baclofen-start --screening-dose '50 mcg' --effect-hours 6",
    )
    screening: Mass = parse_mass("50 mcg")
    t.result(
        calc.baclofen_payload(screening, Duration.from_hours(6)),
        lambda payload: calc.show_rows(
            payload,
            [("rule", payload["rule"]), ("DAILY DOSE", f"{payload['daily_dose_mcg']} mcg/day")],
        ),
    )

    if as_json:
        emit_json({"not_a_medical_device": True, "pump": pump.id, "sections": t.sections})
    else:
        console.print()
        console.print(
            "Next: `thecal drugs` for the whole library with its sources, `thecal --help` for "
            "every command, docs/workflows/check-and-calculate.md for a clinician's walk-through."
        )
