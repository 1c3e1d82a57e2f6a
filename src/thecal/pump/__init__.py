"""The pump digital twin: a hardware model behind a narrow interface, and the firmware
that decides what to deliver. Safety-critical core: standard library only, on top of
`thecal.therapy`; no wall clock, no I/O, no randomness that is not passed in."""
