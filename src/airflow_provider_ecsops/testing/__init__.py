"""Test rigs shipped with the package, never imported by production code: local AWS doubles (moto plus the
project's own extensions), the local services the tests need, and the race lab (``testing.race``)."""
