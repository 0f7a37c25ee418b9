"""Settings for a test project served by a real server: tests.settings plus overrides.

The test that starts the server passes the overrides as a JSON object of top-level
settings in ``OMNITENANT_SERVER_SETTINGS`` (e.g. its own ``DATABASES`` and ``ROOT_URLCONF``).
"""

import json
import os

from tests.settings import *  # noqa: F403

globals().update(json.loads(os.environ.get("OMNITENANT_SERVER_SETTINGS", "{}")))
