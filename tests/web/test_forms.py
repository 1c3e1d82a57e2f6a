"""Form problems in words: the one place pages turn pydantic and service rejections into
messages beside the fields."""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError

from thecal.clinic.errors import Invalid
from thecal.web.forms import (
    WHOLE_FORM,
    FormProblems,
    dotted_path,
    field_messages,
    labelled,
    parse_form,
    problems_of,
    service_message,
)


class Step(BaseModel):
    start: str = Field(min_length=1)


class Sample(BaseModel):
    name: str = Field(min_length=1, max_length=5)
    count: int
    steps: list[Step] = []


def _error(data: dict[str, object]) -> ValidationError:
    try:
        Sample.model_validate(data)
    except ValidationError as error:
        return error
    raise AssertionError("the data was meant to be refused")


def test_a_missing_field_is_required() -> None:
    assert field_messages(_error({"name": "ok"})) == {"count": "is required"}


def test_a_non_number_asks_for_a_whole_number() -> None:
    messages = field_messages(_error({"name": "ok", "count": "many"}))
    assert messages["count"] == "must be a whole number, e.g. 4"


def test_what_a_field_accepts_follows_its_message() -> None:
    messages = field_messages(_error({"name": "toolong"}), accepted={"name": "1 to 5 letters"})
    assert messages["name"] == "at most 5 characters; accepted: 1 to 5 letters"


def test_a_label_names_the_field_in_words() -> None:
    messages = field_messages(_error({"name": "ok"}), label=labelled({}))
    assert messages == {"count": "count: is required"}
    messages = field_messages(_error({"name": "ok"}), label=labelled({"count": "How many"}))
    assert messages == {"count": "How many: is required"}


def test_nested_problems_are_keyed_by_their_model_path() -> None:
    error = _error({"name": "ok", "count": 1, "steps": [{"start": "00:00"}, {"start": ""}]})
    assert field_messages(error, dotted_path) == {"steps[1].start": "is required"}


def test_a_whole_form_problem_is_kept_under_the_whole_form_key() -> None:
    try:
        Sample.model_validate("not a form")
    except ValidationError as error:
        assert list(field_messages(error)) == [WHOLE_FORM]


def test_a_service_rejection_says_what_is_accepted() -> None:
    error = Invalid("weight is out of range", field="weight_kg", accepted="2 to 350 kg")
    assert service_message(error) == "weight is out of range; accepted: 2 to 350 kg"
    assert problems_of(error).of("weight_kg") == service_message(error)


def test_parse_form_treats_empty_text_as_not_given() -> None:
    parsed = parse_form(Sample, {"name": "ok", "count": ""})
    assert isinstance(parsed, FormProblems)
    assert parsed.of("count") == "is required"
    assert parse_form(Sample, {"name": "ok", "count": "3"}) == Sample(name="ok", count=3)
