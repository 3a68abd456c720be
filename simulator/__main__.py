"""`python -m simulator`: serve the upstream simulator."""
import sys

from simulator.cli import main

sys.exit(main())
