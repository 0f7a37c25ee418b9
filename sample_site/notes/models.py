"""A tenant's notes board; every row lives in the tenant's own schema or database."""

from django.core.cache import cache
from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=280)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.text


class BoardSettings(models.Model):
    """The tenant's look: one row, read through the cache by the settings panel."""

    class Theme(models.TextChoices):
        OCEAN = "ocean", "Ocean"
        FOREST = "forest", "Forest"
        SUNSET = "sunset", "Sunset"

    # One key for every tenant: the cache patch stores it as "acme:board-settings" etc.
    CACHE_KEY = "board-settings"

    title = models.CharField(max_length=100)
    theme = models.CharField(max_length=20, choices=Theme.choices, default=Theme.OCEAN)

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        cache.delete(self.CACHE_KEY)

    @classmethod
    def cached(cls):
        """The panel's data (title, theme) for the active tenant, from the cache when there."""
        return cache.get_or_set(cls.CACHE_KEY, cls._load, 300)

    @classmethod
    def _load(cls):
        row = cls.objects.first()
        if row is None:
            return {"title": "Notes", "theme": cls.Theme.OCEAN.value}
        return {"title": row.title, "theme": row.theme}


class Recount(models.Model):
    """The result of the last "recount notes" task."""

    count = models.PositiveIntegerField()
    finished_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.count} notes"
