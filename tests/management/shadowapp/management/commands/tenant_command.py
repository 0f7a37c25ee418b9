"""An app's own tenant_command (as django-tenants has), to test the omnitenant.E050 check."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    def handle(self, *args, **options):
        return "shadowed"
