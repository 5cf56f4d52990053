"""`python -m tracker_service.cli` runs the `tracker-service` command."""

import sys

from tracker_service.cli import main

sys.exit(main())
