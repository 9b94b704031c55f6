"""``python -m sandbox``: run the sandbox ad platform."""

import sys

from sandbox.runner import main

sys.exit(main())
