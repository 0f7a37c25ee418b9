"""The test site as a separate process (uvicorn, observers), with caches of the test rig.

Environment: the usual test variables, plus ``OMNITENANT_RIG_CACHES`` (JSON: CACHES aliases
to add) and ``OMNITENANT_RIG_STAMP_ALIAS`` (the RESOLUTION_CACHE_ALIAS to use).
"""

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from django.conf import settings

settings.CACHES = {**settings.CACHES, **json.loads(os.environ.get("OMNITENANT_RIG_CACHES", "{}"))}
if os.environ.get("OMNITENANT_RIG_STAMP_ALIAS"):
    settings.OMNITENANT_CONFIG = {
        **settings.OMNITENANT_CONFIG,
        "RESOLUTION_CACHE_ALIAS": os.environ["OMNITENANT_RIG_STAMP_ALIAS"],
    }

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
