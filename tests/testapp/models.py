from django.db import models

from omnitenant.models import BaseDomain, BaseTenant


class Tenant(BaseTenant):
    pass


class Domain(BaseDomain):
    pass


class NotATenant(models.Model):
    """A model that does not subclass BaseTenant, for the system-check tests."""

    name = models.CharField(max_length=10)

    def __str__(self):
        return self.name
