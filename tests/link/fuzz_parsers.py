"""Coverage-guided fuzzing (atheris / libFuzzer) of every parser the pump and the
programmer expose (`tests.link.parsers`: frames, payloads, the pump endpoint, handshake
messages in every mode, a hostile pump's answers, credentials, state files, the security
log).

Run directly for a long campaign::

    .venv/bin/python -m tests.link.fuzz_parsers -runs=1000000

`test_fuzz.py` runs it briefly in a subprocess as part of the suite. The first byte of
each input picks the target. Any exception other than the target's typed refusal is a
finding: the parsers must answer every input with a value or that refusal.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["thecal.link", "thecal.programmer.home"]):
    from tests.link.parsers import run_target


def main(argv: list[str]) -> None:
    atheris.Setup(argv, run_target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
