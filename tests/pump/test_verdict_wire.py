"""Typed safety verdicts cross the link and the pump's memory exactly: the programmer sees
the firmware's value, bound and source, not text to re-parse."""

from __future__ import annotations

from datetime import datetime, timedelta

from thecal.link.codec import Decoded
from thecal.link.messages import Reply, wire_registry
from thecal.pump.codec import decode_bytes, encode_bytes
from thecal.pump.commands import Rejected, Rejection
from thecal.pump.payloads import HardLimitRefusal
from thecal.therapy.library import default_library
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.pump_models import find_pump_model
from thecal.therapy.quantities import Concentration, DoseRate
from thecal.therapy.safety import Context, Rule, evaluate

LIBRARY = default_library()
T0 = datetime(2026, 3, 2, 8, 0)


def ziconotide(mcg_per_day: str) -> Prescription:
    return Prescription(
        "ziconotide",
        Concentration.from_mcg_per_ml(25),
        Mode.SIMPLE_CONTINUOUS,
        rate=DoseRate.from_mcg_per_day(mcg_per_day),
    )


def every_kind_of_verdict() -> HardLimitRefusal:
    pump = find_pump_model("peristaltic-20")
    context = Context(ziconotide("2.4"), T0, T0 + timedelta(hours=30), pump)
    evaluation = evaluate(ziconotide("60"), LIBRARY, context)
    rules = {verdict.rule for verdict in evaluation.verdicts}
    # Doses, a Duration, a ratio, a band of ratios, a tuple of concentrations, a name.
    assert {Rule.DAILY_DOSE, Rule.TITRATION_INTERVAL, Rule.TENFOLD_CHANGE} <= rules
    assert {Rule.HOUR_DAY_SLIP, Rule.CONCENTRATION_IN_LIBRARY, Rule.PUMP_RATE} <= rules
    return HardLimitRefusal(evaluation.verdicts)


def test_typed_verdicts_cross_the_link_exactly() -> None:
    registry = wire_registry()
    reply = Reply("r-1", Rejected(Rejection.HARD_LIMIT, "refused", None, every_kind_of_verdict()))
    decoded = registry.decode(registry.encode(reply), Reply)
    assert isinstance(decoded, Decoded)
    assert decoded.value == reply


def test_typed_verdicts_survive_the_pumps_memory_encoding() -> None:
    refusal = every_kind_of_verdict()
    assert decode_bytes(encode_bytes(refusal)) == refusal
