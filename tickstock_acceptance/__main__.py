import sys

from tickstock_acceptance.cli import main

sys.exit(main())
