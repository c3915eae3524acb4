import sys

from cephmark.cli.main import main

sys.exit(main())
