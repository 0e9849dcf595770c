from __future__ import annotations

import sys

from airflow_provider_ecsops.testing.race.run import main

sys.exit(main())
