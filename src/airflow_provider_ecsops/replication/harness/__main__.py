from __future__ import annotations

import sys

from airflow_provider_ecsops.replication.harness.run import main

sys.exit(main())
