"""Run Django's own cache test suite (tests/cache) with the cache patch on and a tenant active.

Run: ``python benchmarks/django_cache_suite.py`` (REDIS_URL, MEMCACHED_LOCATION as for the
tests; DJANGO_SRC to reuse an unpacked source tree). It fetches the sdist of the installed
Django with ``pip download``, runs ``tests/runtests.py cache`` on SQLite, locmem, file,
database, Redis and memcached, and skips only the tests listed in EXCLUDED, each with its
reason. ``--baseline`` runs the same selection on plain Django, for comparison. Not part of
``make test``: it takes a few minutes.
"""

import os
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import uuid
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent

# Tests that assert on raw stored key names, or on the raw contents of a store shared
# with other tests.
_RAW_KEY_WARNING = "expects the raw key ':1:key with spaces' in the warning; it is ':1:suite:...'"
_SHARED_STORE = (
    "counts entries in the locmem store all aliases share; the tenant-scoped clear() in "
    "tearDown leaves other tests' entries under other KEY_PREFIXes, which shifts the cull"
)
_GENERATION_FILE = "counts cache files; the tenant's generation file is one more entry"
EXCLUDED = {
    "cache.tests.DummyCacheTests.test_delete_many_invalid_key": _RAW_KEY_WARNING,
    "cache.tests.DummyCacheTests.test_get_many_invalid_key": _RAW_KEY_WARNING,
    "cache.tests.DummyCacheTests.test_set_many_invalid_key": _RAW_KEY_WARNING,
    "cache.tests_async.AsyncDummyCacheTests.test_adelete_many_invalid_key": _RAW_KEY_WARNING,
    "cache.tests_async.AsyncDummyCacheTests.test_aget_many_invalid_key": _RAW_KEY_WARNING,
    "cache.tests_async.AsyncDummyCacheTests.test_aset_many_invalid_key": _RAW_KEY_WARNING,
    "cache.tests.LocMemCacheTests.test_lru_get": _SHARED_STORE,
    "cache.tests.LocMemCacheTests.test_zero_cull": _SHARED_STORE,
    "cache.tests.LocMemCacheTests.test_lru_incr": _SHARED_STORE,
    "cache.tests.LocMemCacheTests.test_lru_set": _SHARED_STORE,
    "cache.tests.FileBasedCacheTests.test_cull": _GENERATION_FILE,
    "cache.tests.FileBasedCachePathLibTests.test_cull": _GENERATION_FILE,
}


def source_tree() -> Path:
    version = django.get_version()
    base = Path(os.environ.get("DJANGO_SRC") or Path(tempfile.gettempdir()) / "omnitenant-django")
    tree = base / f"django-{version}"
    if not (tree / "tests" / "runtests.py").exists():
        base.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-binary",
                ":all:",
                "--no-deps",
                f"django=={version}",
                "-d",
                str(base),
            ],
            check=True,
        )
        with tarfile.open(base / f"django-{version}.tar.gz") as archive:
            archive.extractall(base, filter="data")
    return tree


SETTINGS = """
import os
SECRET_KEY = "django-cache-suite"
USE_TZ = False
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3"}},
             "other": {{"ENGINE": "django.db.backends.sqlite3"}}}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
TEST_RUNNER = "omnitenant_suite_runner.TenantRunner"
CACHES = {{
    "default": {{"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    "memcached": {{"BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
                   "LOCATION": {memcached!r}, "KEY_PREFIX": {prefix!r}}},
    "redis": {{"BACKEND": "django.core.cache.backends.redis.RedisCache",
               "LOCATION": {redis!r}, "KEY_PREFIX": {prefix!r}}},
}}
"""

RUNNER = """
import os
from types import SimpleNamespace

from django.test.runner import DiscoverRunner

from omnitenant import TenantContext
from omnitenant.patches.cache import patch_django_cache, unpatch_django_cache

EXCLUDED = {excluded!r}


class TenantRunner(DiscoverRunner):
    def setup_test_environment(self, **kwargs):
        super().setup_test_environment(**kwargs)
        if os.environ.get("OMNITENANT_SUITE_BASELINE"):
            print("baseline run: plain Django, no patch (the tenant is active but ignored)")
        else:
            patch_django_cache()
        self._scope = TenantContext.use_tenant(SimpleNamespace(tenant_id="suite"))
        self._scope.__enter__()

    def teardown_test_environment(self, **kwargs):
        self._scope.__exit__(None, None, None)
        unpatch_django_cache()
        super().teardown_test_environment(**kwargs)

    def build_suite(self, *args, **kwargs):
        suite = super().build_suite(*args, **kwargs)
        kept = [test for test in self._flatten(suite) if test.id() not in EXCLUDED]
        for test_id, reason in sorted(EXCLUDED.items()):
            print(f"excluded {{test_id}}: {{reason}}")
        return self.test_suite(kept)

    def _flatten(self, suite):
        for test in suite:
            if hasattr(test, "__iter__"):
                yield from self._flatten(test)
            else:
                yield test
"""


def main() -> int:
    tree = source_tree()
    prefix = f"suite-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as extra:
        Path(extra, "omnitenant_suite_settings.py").write_text(
            textwrap.dedent(
                SETTINGS.format(
                    memcached=os.environ.get("MEMCACHED_LOCATION", "127.0.0.1:11211"),
                    redis=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"),
                    prefix=prefix,
                )
            )
        )
        Path(extra, "omnitenant_suite_runner.py").write_text(RUNNER.format(excluded=EXCLUDED))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([extra, str(ROOT)])}
        args = sys.argv[1:]
        if "--baseline" in args:
            args.remove("--baseline")
            env["OMNITENANT_SUITE_BASELINE"] = "1"
        labels = [arg for arg in args if not arg.startswith("-")] or ["cache"]
        options = [arg for arg in args if arg.startswith("-")]
        return subprocess.run(
            [
                sys.executable,
                "runtests.py",
                *labels,
                "--settings=omnitenant_suite_settings",
                "--parallel=1",
                *options,
            ],
            cwd=tree / "tests",
            env=env,
        ).returncode


if __name__ == "__main__":
    sys.exit(main())
