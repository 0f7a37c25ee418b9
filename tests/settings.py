"""The one test settings module; services come from the environment, with local defaults."""

import os
import tempfile
import uuid

SECRET_KEY = "omnitenant-tests-only"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "omnitenant",
    "tests.testapp",
    "tests.tenantapp",  # database isolation: a per-tenant app (see TENANT_APPS)
]

MIDDLEWARE = []

DATABASES = {
    "default": {
        "ENGINE": "django_tenants.postgresql_backend",  # database isolation: schemas
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "PASSWORD": os.environ.get("PGPASSWORD", ""),
        "NAME": os.environ.get("OMNITENANT_TEST_DB", "omnitenant"),
    },
}

# --- database isolation -------------------------------------------------------------------
DATABASE_ROUTERS = ["omnitenant.routers.TenantRouter"]
# --- end database isolation ---------------------------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")
MEMCACHED_LOCATION = os.environ.get("MEMCACHED_LOCATION", "127.0.0.1:11211")

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}

# --- cache patch: one alias per supported backend ---
# memcached and Redis are shared with other test runs: every run gets its own KEY_PREFIX,
# and tests never clear memcached with no tenant (that would be a global flush_all).

CACHE_TEST_PREFIX = os.environ.get("OMNITENANT_CACHE_PREFIX") or f"t{uuid.uuid4().hex[:12]}"
# Processes the tests start (servers, killed commands) inherit this run's prefix and files.
os.environ["OMNITENANT_CACHE_PREFIX"] = CACHE_TEST_PREFIX
CACHE_TEST_DIR = os.path.join(tempfile.gettempdir(), f"omnitenant-cache-{CACHE_TEST_PREFIX}")
# Database tenants' SQLite files, and the ones kept or dropped aside, per run: a run never
# sees another run's kept data.
TENANT_DATA_DIR = os.path.join(tempfile.gettempdir(), f"omnitenant-data-{CACHE_TEST_PREFIX}")
os.makedirs(TENANT_DATA_DIR, exist_ok=True)
CACHES.update(
    {
        "locmem": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"locmem-{CACHE_TEST_PREFIX}",
        },
        "database": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "omnitenant_test_cache",
            "KEY_PREFIX": CACHE_TEST_PREFIX,
        },
        "file": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": CACHE_TEST_DIR,
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        },
        "redis": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{CACHE_TEST_PREFIX}-redis",
        },
        "django_redis": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{CACHE_TEST_PREFIX}-django-redis",
        },
        "memcached": {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": MEMCACHED_LOCATION,
            "KEY_PREFIX": f"{CACHE_TEST_PREFIX}-memcached",
        },
        "shared": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"shared-{CACHE_TEST_PREFIX}",
            "TENANT_ISOLATION": False,
        },
    }
)

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

OMNITENANT_CONFIG = {
    "TENANT_MODEL": "testapp.Tenant",
    "DOMAIN_MODEL": "testapp.Domain",
    "BASE_DOMAIN": "example.com",
    "PUBLIC_HOSTS": ["example.com", "www.example.com"],
    "TENANT_HEADER": None,
    "PATCHES": {"cache": True},
    # database isolation: database tenants without an alias in DATABASES get a SQLite file
    "TENANT_APPS": ["tenantapp"],
    "TENANT_DATABASE": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(
            TENANT_DATA_DIR,
            os.environ.get("OMNITENANT_TEST_DB", "omnitenant") + "_{tenant_id}.sqlite3",
        ),
    },
}

# --- requests (TenantMiddleware) ----------------------------------------------------------
MIDDLEWARE = ["omnitenant.middleware.TenantMiddleware", *MIDDLEWARE]
DATABASE_ROUTERS = [
    *(r for r in globals().get("DATABASE_ROUTERS", []) if r != "omnitenant.routers.TenantRouter"),
    "omnitenant.routers.TenantRouter",
]
# --- end requests -------------------------------------------------------------------------

# Celery (tests/celery_app.py): a real worker on Redis. DB indexes 7/8 are not flushed by
# the cache tests, which use REDIS_URL.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/7")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/8")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
