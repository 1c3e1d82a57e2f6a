"""Telemetry between the implanted pump and its external controllers.

Layers, bottom up: `frame` (versioned binary envelope with checksum), `codec` (typed
payloads from a closed registry), `noise` + `session` (Noise-style mutually
authenticated, forward-secret handshake; counter-nonce AEAD with a replay window),
`guard` (cookie and handshake budget before any Diffie-Hellman), `pump_endpoint` (the
pump's side: pairing, enrolment, revocation, roles, response memory) and `controller`
(the programmer's or patient controller's side: retries that never act twice).
Transports: `transports.memory`, `transports.tcp`, `transports.radio`.
See docs/security.md for the threat model.
"""
