"""From a prescription to the deliveries the spread solver takes.

The therapy core's `day_profile` is the one place that turns a mode into dose
rates over a local day; continuous parts are taken from it and repeated day
after day. Programmed boluses (single bolus, periodic boluses) are kept as
separate bolus deliveries so the solver can apply near-tip mixing while they
run. Patient-requested boluses are not scheduled (nobody knows when they will
be asked for) and are reported as left out.

The simulation starts at local midnight unless `start` says otherwise.
Exact quantities become floats here, at the edge of the science layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from thecal.science.spread import Delivery
from thecal.therapy.delivery import day_profile
from thecal.therapy.prescription import Mode, Prescription
from thecal.therapy.quantities import SECONDS_PER_DAY, Concentration, Mass

__all__ = ["PrescribedDeliveries", "deliveries_from_prescription"]


@dataclass(frozen=True, slots=True)
class PrescribedDeliveries:
    """The deliveries over the horizon and what was left out, in words."""

    deliveries: tuple[Delivery, ...]
    notes: tuple[str, ...]


def _fluid_rate(drug_rate_ug_s: float, concentration: Concentration) -> float:
    return drug_rate_ug_s / float(concentration.mcg_per_ml)


def _bolus(start_s: float, dose: Mass, seconds: float, conc: Concentration) -> Delivery:
    rate = float(dose.mcg) / seconds
    return Delivery(start_s, start_s + seconds, rate, _fluid_rate(rate, conc), bolus=True)


def deliveries_from_prescription(
    prescription: Prescription, hours: float, start_second_of_day: int = 0
) -> PrescribedDeliveries:
    """Deliveries of `prescription` over `hours` from `start_second_of_day` (local time)."""
    if not hours > 0:
        raise ValueError(f"hours must be positive, not {hours}")
    if not 0 <= start_second_of_day < SECONDS_PER_DAY:
        raise ValueError("the start must be a time of day (0 to 86399 seconds)")
    horizon = hours * 3600.0
    conc = prescription.concentration
    mode = prescription.mode
    notes: list[str] = []
    out: list[Delivery] = []

    if mode is Mode.MINIMUM_RATE:
        raise ValueError(
            "prescription: minimum-rate mode depends on the pump model's minimum rate; "
            "give the rate with --dose instead"
        )
    if mode is Mode.SINGLE_BOLUS:
        assert prescription.bolus is not None
        bolus = prescription.bolus
        seconds = float(bolus.duration.seconds)
        out.append(_bolus(0.0, bolus.dose, seconds, conc))
        notes.append("single bolus given at the start of the simulation")
        return PrescribedDeliveries(tuple(d for d in out if d.start_s < horizon), tuple(notes))

    # The background: the day profile, without the periodic boluses, which follow
    # as bolus deliveries of their own.
    background = prescription
    if mode is Mode.PERIODIC_BOLUS:
        assert prescription.periodic is not None
        rate = prescription.rate
        if rate is not None and rate.amount > 0:
            background = Prescription(
                drug=prescription.drug,
                concentration=conc,
                mode=Mode.SIMPLE_CONTINUOUS,
                rate=rate,
            )
        else:
            background = Prescription(prescription.drug, conc, Mode.STOPPED)
    profile = day_profile(background)

    first_day_start = -float(start_second_of_day)
    day = 0
    while first_day_start + day * SECONDS_PER_DAY < horizon:
        offset = first_day_start + day * SECONDS_PER_DAY
        for seg in profile.segments:
            start = max(offset + seg.start, 0.0)
            end = min(offset + seg.end, horizon)
            rate_ug_s = float(seg.dose_rate.mcg_per_day) / SECONDS_PER_DAY
            if end > start and rate_ug_s > 0:
                out.append(Delivery(start, end, rate_ug_s, _fluid_rate(rate_ug_s, conc)))
        if mode is Mode.PERIODIC_BOLUS:
            assert prescription.periodic is not None
            bolus = prescription.periodic.bolus
            seconds = float(bolus.duration.seconds)
            for start_of_day in prescription.periodic.starts():
                begin = offset + start_of_day
                if 0.0 <= begin < horizon:
                    out.append(_bolus(begin, bolus.dose, seconds, conc))
        day += 1
    if mode is Mode.STOPPED:
        notes.append("the pump is stopped: nothing is delivered")
    if prescription.patient_bolus is not None:
        notes.append("patient-requested boluses are not simulated (their timing is unknown)")
    return PrescribedDeliveries(tuple(out), tuple(notes))
