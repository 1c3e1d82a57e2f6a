"""Device secrets as printed on the implant card, and static keys."""

from __future__ import annotations

import pytest

from thecal.link.keys import DeviceSecret, StaticKey, key_id, parse_public_key


def test_card_text_parses_back_to_the_same_secret() -> None:
    secret = DeviceSecret.generate()
    text = secret.card_text()
    assert len(text.split("-")) == 5
    assert DeviceSecret.parse(text) == secret


def test_card_text_is_read_forgivingly_case_spaces_and_look_alike_letters() -> None:
    secret = DeviceSecret("0123456789ABCDEFGHJKMNPQ")
    text = secret.card_text()
    sloppy = text.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert DeviceSecret.parse(sloppy) == secret


def test_a_mistyped_character_is_caught_before_it_costs_a_pairing_attempt() -> None:
    secret = DeviceSecret("0123456789ABCDEFGHJKMNPQ")
    text = secret.card_text()
    typo = ("Z" if text[3] != "Z" else "Y").join((text[:3], text[4:]))
    with pytest.raises(ValueError, match="check character"):
        DeviceSecret.parse(typo)


@pytest.mark.parametrize("text", ["", "hello", "0123456789ABCDEFGHJKMNPQRS", "!!!!!-!!!!!-!!!!!"])
def test_text_that_is_not_a_secret_is_refused_saying_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="accepted"):
        DeviceSecret.parse(text)


def test_the_pairing_key_is_bound_to_the_pump_serial() -> None:
    secret = DeviceSecret.generate()
    assert secret.psk("SN1") != secret.psk("SN2")
    assert len(secret.psk("SN1")) == 32


def test_secrets_and_private_keys_never_show_in_repr() -> None:
    secret = DeviceSecret.generate()
    key = StaticKey.generate()
    assert secret.data not in repr(secret)
    assert key.to_hex() not in repr(key)


def test_public_keys_parse_from_hex_and_fingerprint_stably() -> None:
    key = StaticKey.generate()
    assert parse_public_key(key.public.hex()) == key.public
    assert key.id == key_id(key.public)
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        parse_public_key("abc")
