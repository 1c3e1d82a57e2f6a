"""The firmware: what the pump believes and decides.

It keeps the stored prescription and runs it on the pump's local clock, estimates the
reservoir from programmed delivery (as real pumps do [S10]), raises alarms from the
catalogue, logs every event, keeps its state in checksummed non-volatile memory, and
executes commands. It talks to the hardware only through `HardwareInterface`.

Time advances only through `run_until(ticks)`, jumping from event to event (schedule
changes, bolus ends, threshold crossings, self-checks); nothing ticks per second.

Two integration modes give the same programmed volume at the same event times:

* `SimulationMode.STROKES` walks the day profile's segments (`thecal.therapy.delivery.
  day_profile`) and moves whole strokes, carrying the fraction of a stroke not yet
  moved, so delivery trails programmed volume by less than one stroke and never runs
  ahead of it;
* `SimulationMode.ANALYTIC` integrates the schedule in closed form with the therapy
  core's `VolumePattern` and moves exactly the programmed volume.

One module per idea; each is a set of functions over `core.FirmwareCore` (the parts:
profile, hardware, library, RAM, event log), and `machine.Firmware` is the public face:

* `core`: the parts, the local clock, logging, committing records;
* `startup`: first start after implant, restart from memory;
* `engine`: time advancing event to event, moving fluid;
* `self_check`: battery, motor retry, memory scrub, checkpoint;
* `delivery_state`: therapy-state changes, boluses starting and ending, holds;
* `alarm_control`: raising and clearing alarms, the reservoir thresholds;
* `dispatch`: command handling, request memory, dispatch to the handlers;
* handlers per command family: `prescribing`, `boluses`, `refill`, `state_commands`
  (stop, minimum rate, resume), `settings` (clock, alarm settings, acknowledge, alarm
  test), `recovery` (post-MRI check, flow-valve reset);
* `views`: the interrogation report, statuses, patient status, availability.
"""

from thecal.pump import wire as _wire  # noqa: F401  (registers the command types with the codec)
from thecal.pump.firmware.core import FirmwareRestart, SimulationMode
from thecal.pump.firmware.machine import Firmware

__all__ = ["Firmware", "FirmwareRestart", "SimulationMode"]
