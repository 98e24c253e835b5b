import sys

from center_platform.cli import main

sys.exit(main())
