"""A per-tenant app (listed in OMNITENANT_CONFIG['TENANT_APPS']): its rows live in each tenant."""

from django.db import models


class Note(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title
