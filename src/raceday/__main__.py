import sys

from raceday.cli import main

sys.exit(main())
