import sys

from branch_agent.cli import main

sys.exit(main())
