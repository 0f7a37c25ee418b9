"""Sample site settings, read from the environment only.

With no environment variables the site is self-contained: SQLite with one database file per
tenant (database isolation), a file-based cache shared by every process, and Celery tasks run
eagerly in the web process. ``DATABASE_URL`` switches to PostgreSQL with one schema per tenant
(django-tenants), ``REDIS_URL`` to a Redis cache, ``CELERY_BROKER_URL`` to a real worker.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("SAMPLE_DATA_DIR", BASE_DIR / "data"))
DATA_DIR.mkdir(parents=True, exist_ok=True)

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")


def _secret_key() -> str:
    # No secret in the repository: take it from the environment, or make one per checkout.
    if key := os.environ.get("DJANGO_SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key.txt"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = [
    "localhost",
    ".localhost",
    "127.0.0.1",
    *filter(None, os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",")),
]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "demo.urls_public"
STATIC_URL = "/static/"
WSGI_APPLICATION = "demo.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SHARED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "omnitenant",
    "customers",
]
TENANT_APPS = ["notes"]
INSTALLED_APPS = [*SHARED_APPS, *TENANT_APPS]

MIDDLEWARE = [
    "omnitenant.middleware.TenantMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- Databases --------------------------------------------------------------------------------

if DATABASE_URL:
    _url = urlsplit(DATABASE_URL)
    TENANT_ISOLATION = "schema"
    DATABASES = {
        "default": {
            "ENGINE": "django_tenants.postgresql_backend",
            "NAME": unquote(_url.path.lstrip("/")),
            "USER": unquote(_url.username or ""),
            "PASSWORD": unquote(_url.password or ""),
            "HOST": _url.hostname or "",
            "PORT": str(_url.port or ""),
        }
    }
else:
    # One SQLite file per tenant, registered by omnitenant from TENANT_DATABASE on first use.
    TENANT_ISOLATION = "database"
    TENANT_DB_DIR = DATA_DIR / "tenants"
    TENANT_DB_DIR.mkdir(exist_ok=True)
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "public.sqlite3"}
    }

DATABASE_ROUTERS = ["omnitenant.routers.TenantRouter"]

# --- Cache --------------------------------------------------------------------------------------

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "sample",
        }
    }
else:
    # The file cache is shared by every process (web workers, manage.py), unlike locmem.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": DATA_DIR / "cache",
        }
    }

# --- Celery -------------------------------------------------------------------------------------

CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# A queue of its own, so the demo's tasks never mix with another app's on a shared broker.
CELERY_TASK_DEFAULT_QUEUE = "sample_site"

# --- omnitenant ---------------------------------------------------------------------------------

OMNITENANT_CONFIG = {
    "TENANT_MODEL": "customers.Tenant",
    "DOMAIN_MODEL": "customers.Domain",
    "BASE_DOMAIN": os.environ.get("SAMPLE_BASE_DOMAIN", "localhost"),
    "PUBLIC_HOSTS": ["localhost", "127.0.0.1"],
    "PATCHES": {"cache": True},
    "PUBLIC_URLCONF": "demo.urls_public",
    "TENANT_URLCONF": "demo.urls_tenant",
    "TENANT_APPS": TENANT_APPS,
    # Database isolation (the embedded default): where a tenant's own database lives.
    "TENANT_DATABASE": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "tenants" / "{tenant_id}.sqlite3"),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}
