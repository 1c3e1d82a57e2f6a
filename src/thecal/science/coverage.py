"""Coverage: which cord segments (and so which dermatomes) the drug reaches.

The model's CSF concentration at each spinal-cord segment's position along the
canal is compared with the drug's effective concentration (a labelled model
parameter, see ``data/csf_drugs.toml``). A segment is *covered* when its peak
concentration over the run reaches that level; a body-map region is covered
when every segment supplying it is, partly covered when some are. CSF
concentration stands in for the cord tissue it bathes: the model has no cord
compartment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from thecal.science.parameters import DrugTransport
from thecal.science.spread import SpreadResult
from thecal.therapy import anatomy
from thecal.therapy.anatomy import BodyRegion, CordSegment

__all__ = [
    "Coverage",
    "SegmentExposure",
    "coverage",
    "segment_positions_cm",
]

FloatArray = NDArray[np.float64]


def segment_positions_cm() -> FloatArray:
    """Positions of cord segments C1..S5 along the canal (cm), as floats for probing."""
    return np.array([float(s.position_cm) for s in anatomy.cord_segments()])


@dataclass(frozen=True, slots=True)
class SegmentExposure:
    """Drug at one cord segment: concentrations microgram/mL, time s."""

    segment: CordSegment
    position_cm: float
    peak: float
    peak_time_s: float
    final: float
    covered: bool


@dataclass(frozen=True, slots=True)
class Coverage:
    """Per-segment exposure and what reached the drug's effective level."""

    drug: DrugTransport
    effective_concentration: float | None
    segments: tuple[SegmentExposure, ...]
    covered_regions: tuple[BodyRegion, ...]
    partly_covered_regions: tuple[BodyRegion, ...]

    @property
    def covered_segments(self) -> tuple[CordSegment, ...]:
        return tuple(e.segment for e in self.segments if e.covered)


def coverage(result: SpreadResult) -> Coverage:
    """Coverage of the cord segments in `result`.

    `result` must have been simulated with every cord-segment position among
    its probes (see `segment_positions_cm`).
    """
    positions = segment_positions_cm()
    index: list[int] = []
    for x in positions:
        hits = np.flatnonzero(np.isclose(result.probes_cm, x, rtol=0.0, atol=1e-9))
        if hits.size == 0:
            raise ValueError(f"the simulation did not probe the cord segment at {x:.1f} cm")
        index.append(int(hits[0]))
    effective = result.drug.effective_concentration
    exposures: list[SegmentExposure] = []
    for seg, x, i in zip(anatomy.cord_segments(), positions, index, strict=True):
        peak = float(result.probe_peak[i])
        exposures.append(
            SegmentExposure(
                segment=seg,
                position_cm=float(x),
                peak=peak,
                peak_time_s=float(result.probe_peak_time_s[i]),
                final=float(result.probe_final[i]),
                covered=effective is not None and peak >= effective,
            )
        )
    covered = {e.segment for e in exposures if e.covered}
    full: list[BodyRegion] = []
    partial: list[BodyRegion] = []
    for region in anatomy.body_regions():
        if not region.segments:
            continue
        hit = [s in covered for s in region.segments]
        if all(hit):
            full.append(region)
        elif any(hit):
            partial.append(region)
    return Coverage(result.drug, effective, tuple(exposures), tuple(full), tuple(partial))
