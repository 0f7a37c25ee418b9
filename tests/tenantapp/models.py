"""A per-tenant app (listed in OMNITENANT_CONFIG['TENANT_APPS']): its rows live in each tenant."""

from django.db import models


class Note(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title


class Comment(models.Model):
    """A tenant row pointing at another tenant row, for the relation tests."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="comments")
    text = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.text
