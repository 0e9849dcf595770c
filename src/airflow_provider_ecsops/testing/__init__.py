"""Local AWS doubles for tests and the demo: moto plus the project's own extensions (see each module)."""
