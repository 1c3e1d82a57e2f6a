"""Priming and bridge bolus volumes from catheter and pump data."""

from __future__ import annotations

from fractions import Fraction

import pytest

from thecal.programmer.calculations import (
    CatheterData,
    bridge_bolus,
    catheter_volume,
    priming_bolus,
)
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.pump_models import find_catheter_model, find_pump_model
from thecal.therapy.quantities import Concentration, DoseRate, Volume

PUMP = find_pump_model("peristaltic-20")
PROMETRA = find_catheter_model("prometra-110")


def test_prometra_labelled_formula_implanted_length_times_0_0026_ml_per_cm() -> None:
    catheter = CatheterData.from_trimmed(PROMETRA, Fraction(30))  # 80 cm implanted
    assert catheter_volume(catheter) == Volume(Fraction("0.208"))


def test_priming_volume_is_exactly_tubing_plus_catheter_with_the_corrected_0_140_ml() -> None:
    plan = priming_bolus(PUMP, CatheterData(PROMETRA, Fraction(50)))
    assert plan.tubing == Volume(Fraction("0.140"))
    assert plan.volume == Volume(Fraction("0.140") + Fraction("0.130"))


def test_priming_never_runs_faster_than_the_pump_bolus_rate() -> None:
    plan = priming_bolus(PUMP, CatheterData(PROMETRA, Fraction(77)))
    assert plan.rate <= PUMP.max_bolus_volume_rate.value
    assert plan.duration.seconds.denominator == 1


@pytest.mark.parametrize(
    ("implanted", "ok"), [(Fraction(110), True), (Fraction(111), False), (Fraction(0), False)]
)
def test_implanted_length_must_fit_the_catheter(implanted: Fraction, ok: bool) -> None:
    if ok:
        CatheterData(PROMETRA, implanted)
    else:
        with pytest.raises(ValueError, match="outside"):
            CatheterData(PROMETRA, implanted)


def _rx(rate_mcg: int, conc_mcg: int) -> Prescription:
    return Prescription(
        "morphine",
        Concentration(Fraction(conc_mcg)),
        Mode.SIMPLE_CONTINUOUS,
        rate=DoseRate(Fraction(rate_mcg)),
    )


def test_bridge_moves_the_dead_space_at_the_old_volume_rate() -> None:
    catheter = CatheterData(PROMETRA, Fraction(50))
    old = _rx(5000, 10000)  # 5 mg/day at 10 mg/mL = 0.5 mL/day
    plan = bridge_bolus(PUMP, catheter, old)
    assert plan.volume == Volume(Fraction("0.270"))
    assert plan.old_volume_rate.ml_per_day == Fraction(1, 2)
    # 0.27 mL at 0.5 mL/day = 0.54 day = 46656 s, and the old dose is what is delivered
    assert plan.duration.seconds == 46656
    # the drug given during the bridge is exactly the old drug that was in the dead space
    assert plan.old_daily_dose.over(plan.duration) == plan.volume.times(old.concentration)


@pytest.mark.parametrize(("rate_mcg", "fits"), [(6480, True), (6479, False)])
def test_a_bridge_longer_than_one_pump_bolus_is_flagged(rate_mcg: int, fits: bool) -> None:
    # 0.27 mL of 24 mg/mL holds 6480 mcg: at 6480 mcg/day the bridge takes exactly 24 h
    catheter = CatheterData(PROMETRA, Fraction(50))
    old = _rx(rate_mcg, 24000)
    plan = bridge_bolus(PUMP, catheter, old)
    assert plan.fits_one_bolus is fits


def test_a_stopped_old_prescription_has_nothing_to_bridge() -> None:
    stopped = Prescription("morphine", Concentration(Fraction(10000)), Mode.STOPPED)
    with pytest.raises(ValueError, match="priming bolus"):
        bridge_bolus(PUMP, CatheterData(PROMETRA, Fraction(50)), stopped)
