"""The types a command or response may carry, and their lossless plain encoding."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from enum import Enum

from tests.pump.support import T0, accepted, baclofen, clinician, implant, morphine_pca, patient
from thecal.pump import from_plain, to_plain, wire_types
from thecal.pump import payloads as payload_module
from thecal.pump.commands import (
    AcknowledgeAlarm,
    AlarmTest,
    ClinicianBolus,
    Interrogate,
    PatientBolusRequest,
    Request,
    Role,
    SetClock,
    StatusSummary,
    Stop,
    WritePrescription,
)
from thecal.therapy.quantities import Duration, Mass, Volume

PLAIN = (str, int, bool, type(None), list, dict)


def _is_plain_json(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_plain_json(v) for v in value)
    return isinstance(value, PLAIN)


def test_wire_types_are_dataclasses_and_enums_each_listed_once():
    types = wire_types()
    assert len(types) == len(set(types))
    for cls in types:
        assert dataclasses.is_dataclass(cls) or issubclass(cls, Enum)


def test_every_payload_type_is_a_wire_type():
    payloads = {
        obj
        for obj in vars(payload_module).values()
        if isinstance(obj, type) and obj.__module__ == payload_module.__name__
    }
    assert payloads <= set(wire_types())


def test_every_payload_dataclass_is_frozen():
    for cls in wire_types():
        if dataclasses.is_dataclass(cls):
            assert cls.__dataclass_params__.frozen, cls.__name__


def test_real_responses_survive_a_round_trip_through_json():
    rx = morphine_pca()
    twin = implant(rx)
    twin.advance(T0 + timedelta(hours=4))
    responses = [
        clinician(twin, Interrogate()),
        patient(twin, StatusSummary()),
        patient(twin, PatientBolusRequest()),
        patient(twin, PatientBolusRequest()),  # a refusal with a denial payload
        clinician(twin, ClinicianBolus(Mass.from_mg("0.1"), Duration.from_minutes(5))),
        clinician(twin, WritePrescription(rx, rx.content_hash)),
        clinician(twin, SetClock(twin.local_now)),
        clinician(twin, AlarmTest()),
        clinician(twin, AcknowledgeAlarm("nothing")),
        clinician(twin, Stop()),
    ]
    responses.append(twin.refill_visit(Volume.from_ml(20)).response)
    for response in responses:
        plain = to_plain(response)
        text = json.dumps(plain)
        assert _is_plain_json(json.loads(text))
        assert from_plain(json.loads(text)) == response


def test_requests_survive_a_round_trip_through_json():
    rx = baclofen()
    for command in (WritePrescription(rx, rx.content_hash), Interrogate(log_since=4), Stop()):
        request = Request("r-1", Role.CLINICIAN, command)
        assert from_plain(json.loads(json.dumps(to_plain(request)))) == request


def test_an_interrogation_report_carries_the_prescription_exactly():
    rx = baclofen()
    report = accepted(clinician(implant(rx), Interrogate())).payload
    decoded = from_plain(json.loads(json.dumps(to_plain(report))))
    assert decoded.prescription == rx
    assert decoded.prescription.content_hash == rx.content_hash
