"""Test command: a project command made tenant-aware with TenantCommand."""

from omnitenant import TenantContext
from omnitenant.management import TenantCommand


class Command(TenantCommand):
    help = "Report the tenant it runs in."

    def add_arguments(self, parser):
        parser.add_argument("label")

    def handle(self, *args, **options):
        active = TenantContext.get_tenant().tenant_id
        return f"{options['label']}: {self.tenant.tenant_id} (active {active})"
