"""Availability under attack: how an enrolled clinician's Stop fares during each flood an
attacker in range can send, against a pump served as its own process over loopback TCP.

    python3 dev.py bench floods

The pump is `thecal pump serve` (its own process, as in the field it is its own
device), with the clinic's authority installed; the clinician programmer pairs with the
implant card and its credential, exactly as `thecal programmer pair` does. Then, for a
baseline with no flood and for each flood of `tests.link.floods` (cookie-collecting
stranger, idle-socket exhaustion, random-session DATA, blind handshake junk):

* the attacker threads run for `SECONDS`; meanwhile the clinician connects afresh and
  sends Stop `STOPS` times (a Resume between, untimed);
* printed: attacker attempts (and per second), what the pump answered them, Stops
  carried out of Stops sent, Stop latency (median, max) and its ratio to the baseline's
  median measured in the same run, and the security log's size on disk afterwards.

The figures go in docs/security.md ("Availability under attack"). Tests never time
anything: `tests/link/test_floods.py` asserts only that each Stop is carried out.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from tests.link.floods import CLINICIAN_RETRY, FLOODS, Flood, log_bytes

from thecal.link.authority import AuthorityKey, issue_credential
from thecal.link.controller import ControllerLink
from thecal.link.keys import DeviceSecret
from thecal.link.transports.tcp import TcpChannel
from thecal.programmer.connection import pair_tcp
from thecal.programmer.home import ControllerHome
from thecal.pump.commands import Accepted, Resume, Role, Stop

SECONDS = 10.0
STOPS = 5
THECAL = str(Path(sys.executable).parent / "thecal")


def _serve(state: Path, authority: AuthorityKey) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [THECAL, "pump", "serve", "--state", str(state), "--listen", "127.0.0.1:0", "--json",
         "--drug", "morphine", "--concentration", "10 mg/mL", "--fill", "20 mL",
         "--authority", authority.public.hex()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    selector = selectors.DefaultSelector()
    assert process.stdout is not None
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout=60):
        process.kill()
        raise RuntimeError("the served pump did not start")
    return process, json.loads(process.stdout.readline())


def _stop_once(home: ControllerHome, address: str, serial: str, key: bytes) -> tuple[bool, float]:
    host, port = address.rsplit(":", 1)
    link = ControllerLink(TcpChannel(host, int(port)), home.key(), key, serial,
                          retry=CLINICIAN_RETRY, hello_clock=home.next_hello,
                          credential=home.credential())  # fmt: skip
    began = time.perf_counter()
    try:
        done = isinstance(link.call(Stop()), Accepted)
    except Exception:  # a failed Stop is a figure here, not a crash
        done = False
    seconds = time.perf_counter() - began
    try:
        link.call(Resume())
    except Exception:
        pass
    finally:
        link.close()
    return done, seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        authority = AuthorityKey.generate()
        process, started = _serve(root / "pump", authority)
        try:
            address, serial = started["listening"], started["serial"]
            pump_key = bytes.fromhex(started["pump_public_key"])
            home = ControllerHome(root / "programmer")
            now = datetime.now()
            home.install_credential(issue_credential(
                authority, home.public_key(), Role.CLINICIAN, "bench", now - timedelta(days=1),
                now + timedelta(days=30),
            ))  # fmt: skip
            pair_tcp(home, address, DeviceSecret.parse(started["device_secret"]), "bench")
            rows = []
            baseline: float | None = None
            for kind in ("none", *FLOODS):
                flood = None if kind == "none" else Flood(kind, address, pump_key).start()
                began = time.monotonic()
                results = []
                for n in range(STOPS):
                    target = began + SECONDS * (n + 1) / (STOPS + 1)
                    time.sleep(max(0.0, target - time.monotonic()))
                    results.append(_stop_once(home, address, serial, pump_key))
                time.sleep(max(0.0, began + SECONDS - time.monotonic()))
                elapsed = time.monotonic() - began
                if flood is not None:
                    flood.stop()
                latencies = [seconds for _, seconds in results]
                median = statistics.median(latencies)
                baseline = baseline or median
                done = sum(ok for ok, _ in results)
                log = log_bytes(root / "pump")
                rows.append((kind, flood, elapsed, done, median, max(latencies), median / baseline,
                             log))  # fmt: skip
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    print(f"{SECONDS:.0f} s per flood, {STOPS} Stops each, pump in its own process "
          f"({os.cpu_count()} CPUs)")  # fmt: skip
    print(f"{'flood':8} {'attempts':>9} {'/s':>7}  {'Stops':>6} {'median':>8} {'max':>8} "
          f"{'x base':>7} {'log':>9}  pump answered")  # fmt: skip
    for kind, flood, elapsed, done, median, worst, ratio, log in rows:
        attempts = flood.attempts if flood is not None else 0
        answers = ", ".join(f"{n} {a}" for a, n in flood.answers.most_common()) if flood else ""
        print(
            f"{kind:8} {attempts:9d} {attempts / elapsed:7.0f}  {done:>3}/{STOPS:<2} "
            f"{median * 1000:6.0f}ms {worst * 1000:6.0f}ms {ratio:7.1f} {log:8d}B  {answers}"
        )


if __name__ == "__main__":
    main()
