"""The one test settings module; services come from the environment, with local defaults."""

import os
import tempfile

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
# django-tenants: issue SET search_path once per switch, not before every cursor.
TENANT_LIMIT_SET_CALLS = True
# --- end database isolation ---------------------------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")
MEMCACHED_LOCATION = os.environ.get("MEMCACHED_LOCATION", "127.0.0.1:11211")

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}

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
            tempfile.gettempdir(),
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
