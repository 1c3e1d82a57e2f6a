"""Suite-wide settings.

Hypothesis's per-example deadline is a timed assertion in disguise: on a loaded 2-core
machine it fails tests whose behaviour is right. Speed is shown by `benchmarks/`, never by
the suite, so it is off here.
"""

from hypothesis import settings

settings.register_profile("thecal", deadline=None)
settings.load_profile("thecal")
