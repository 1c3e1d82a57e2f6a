"""The drug library the clinic uses, as the prescription editor shows it."""

from __future__ import annotations

from thecal.clinic.access import Permission, authorize
from thecal.clinic.service.common import View, quantity_text
from thecal.clinic.service.core import Call

__all__ = ["ConcentrationItem", "DrugItem", "drug_library"]


class ConcentrationItem(View):
    value: str
    provenance: str


class DrugItem(View):
    id: str
    name: str
    drug_class: str
    approved_for_pump: bool
    high_risk_withdrawal: bool
    daily_dose_soft_max: str
    daily_dose_hard_max: str
    stability_max_interval: str
    concentrations: list[ConcentrationItem]


def drug_library(call: Call) -> list[DrugItem]:
    """Every drug with its approval status (shown, never hidden), limits and concentrations."""
    authorize(call.actor, Permission.PATIENT_READ, call.actor.patient_id)
    return [
        DrugItem(
            id=drug.id,
            name=drug.name,
            drug_class=drug.drug_class,
            approved_for_pump=drug.approved_for_pump.value,
            high_risk_withdrawal=drug.high_risk_withdrawal.value,
            daily_dose_soft_max=quantity_text(drug.daily_dose_soft_max.value) or "",
            daily_dose_hard_max=quantity_text(drug.daily_dose_hard_max.value) or "",
            stability_max_interval=str(drug.stability_max_interval.value),
            concentrations=[
                ConcentrationItem(
                    value=quantity_text(entry.concentration.value) or "",
                    provenance=entry.concentration.provenance,
                )
                for entry in drug.concentrations
            ],
        )
        for drug in call.library.drugs
    ]
