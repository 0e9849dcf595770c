.PHONY: demo test lint typecheck check-wheel race race-short

# The main demo: the example DAGs end to end against local AWS (moto + the Fargate double) and SQLite.
demo:
	scripts/demo.sh

# The whole test suite on the CI lines (MWAA 2.10.3, 3.0.6, 3.3.1, latest Airflow 3 from the wheel), then the race short mode.
test:
	scripts/test.sh

lint:
	$$(scripts/venv.sh latest)/bin/ruff check src tests bench example_dags scripts

# mypy over src/ (pyproject [tool.mypy]).
typecheck:
	scripts/typecheck.sh

# The built wheel: contents, resolution under every MWAA constraints file, MWAA's --no-index route.
check-wheel:
	scripts/check_mwaa_install.sh

# The scale-down race reproduced locally with real Airflow 3 + Celery workers, guarded vs unguarded fleet.
race:
	scripts/race.sh long

race-short:
	scripts/race.sh short
