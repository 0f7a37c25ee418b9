"""The sample site's project package; the Celery app loads with Django."""

from demo.celery import app as celery_app

__all__ = ["celery_app"]
