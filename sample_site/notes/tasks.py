"""Background work of the notes board, run by Celery inside the tenant that queued it."""

from notes.models import Note, Recount
from omnitenant.celery import tenant_task


@tenant_task(name="notes.recount_notes", required=True)
def recount_notes():
    """Count the active tenant's notes and store the result for the board to show."""
    count = Note.objects.count()
    Recount.objects.update_or_create(pk=1, defaults={"count": count})
    return count
