"""Management-command support; ``TenantCommand`` gives a project's command ``--tenant``."""

from omnitenant.management.base import TenantCommand

__all__ = ["TenantCommand"]
