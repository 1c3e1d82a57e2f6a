"""The therapy core: exact quantities, the drug library, prescriptions, the one
safety evaluator and the dosing calculators.

Safety-critical (think IEC 62304 class C): standard library only, fully typed,
no I/O beyond reading its own data files, no wall clock, no hidden randomness.
"""
