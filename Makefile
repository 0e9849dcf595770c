.PHONY: demo test lint bench race

# The main demo: the example DAGs end to end against local AWS (moto + the Fargate double) and SQLite.
demo:
	scripts/demo.sh

# The whole test suite on the Airflow matrix (MWAA 2.10.3, MWAA 3.3.1, latest Airflow 3).
test:
	scripts/test.sh

lint:
	$$(scripts/venv.sh latest)/bin/ruff check src tests bench example_dags
