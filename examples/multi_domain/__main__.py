"""``python -m examples.multi_domain``: the narrated story (see ``story.py``)."""

import sys

from examples.multi_domain.story import main

sys.exit(main())
