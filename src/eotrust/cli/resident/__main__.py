"""``python -m eotrust.cli.resident KEY``: how the client starts the agent."""

import sys

from eotrust.cli.resident.server import main

sys.exit(main(sys.argv))
