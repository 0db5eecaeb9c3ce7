import sys

from ogfr.cli import main

sys.exit(main())
