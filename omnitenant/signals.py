"""Django signals sent by TenantContext.use_tenant (sender=TenantContext, tenant=...)."""

from django.dispatch import Signal

tenant_activated = Signal()
tenant_deactivated = Signal()
