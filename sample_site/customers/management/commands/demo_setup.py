"""Migrate and create the demo tenants acme and globex with some notes; safe to run again."""

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management.base import BaseCommand

from customers.models import Tenant
from notes.models import BoardSettings, Note
from omnitenant.context import TenantContext
from omnitenant.provisioning import create_tenant, migrate_shared, provision_tenant

DEMO_TENANTS = [
    {
        "tenant_id": "acme",
        "name": "Acme Corporation",
        "theme": BoardSettings.Theme.OCEAN,
        "notes": ["Order more anvils", "Test the rocket skates before Friday"],
    },
    {
        "tenant_id": "globex",
        "name": "Globex Corporation",
        "theme": BoardSettings.Theme.FOREST,
        "notes": ["Quarterly review with Hank", "Move the volcano lair budget to Q3"],
    },
]


class Command(BaseCommand):
    help = "Migrate, then create the demo tenants acme and globex with demo data (idempotent)."

    def handle(self, *args, **options):
        migrate_shared(verbosity=0)
        for spec in DEMO_TENANTS:
            tenant = self.ensure_tenant(spec)
            with TenantContext.use_tenant(tenant):
                self.seed(tenant, spec)
        self.ensure_superuser()
        self.stdout.write(self.style.SUCCESS("Demo tenants ready: acme, globex"))

    def ensure_tenant(self, spec):
        tenant_id = spec["tenant_id"]
        tenant = Tenant.objects.filter(tenant_id=tenant_id).first()
        if tenant is not None:
            provision_tenant(tenant)  # brings its schema or database up to date
            return tenant
        isolation = settings.TENANT_ISOLATION
        return create_tenant(
            tenant_id,
            spec["name"],
            isolation_type=isolation,
            domains=(f"{tenant_id}.localhost",),
            db_alias=f"tenant_{tenant_id}" if isolation == "database" else None,
        )

    def seed(self, tenant, spec):
        BoardSettings.objects.get_or_create(
            pk=1, defaults={"title": tenant.name, "theme": spec["theme"]}
        )
        if not Note.objects.exists():
            for text in spec["notes"]:
                Note.objects.create(text=text)
        cache.delete(BoardSettings.CACHE_KEY)

    def ensure_superuser(self):
        # Only with a password from the environment: the repository holds no credentials.
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
        user_model = get_user_model()
        if password and not user_model.objects.filter(username=username).exists():
            user_model.objects.create_superuser(username, f"{username}@localhost", password)
