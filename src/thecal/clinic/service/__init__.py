"""The clinic's operations, shared by the JSON API and the web pages.

Open a call on a `Clinic` and pass it to the operation:

    with clinic.write(actor) as call:
        view = refills.record_refill(call, implant_id, RefillForm(...))

Every operation checks the actor's role (`thecal.clinic.access`), validates its input
(pydantic forms whose errors name the field and what is accepted), writes its audit entry
in the same transaction, and returns plain view models ready to render or serialise.
"""

from thecal.clinic.service.core import Call, Clinic, ClinicSettings, Clock, FixedClock, SystemClock

__all__ = ["Call", "Clinic", "ClinicSettings", "Clock", "FixedClock", "SystemClock"]
