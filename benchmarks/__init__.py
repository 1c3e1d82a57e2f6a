"""thecal benchmarks: `python3 dev.py bench [NAME ...]`.

Each `bench_*.py` module has a `main() -> None` that measures its subject and a
simple baseline in the same run and prints both figures and their ratio. Tests
never assert on time; these figures are for people.
"""
