"""The notes board of the active tenant (request.tenant, set by TenantMiddleware)."""

from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import cache_page
from django.views.decorators.http import require_POST

from notes.models import BoardSettings, Note, Recount
from notes.tasks import recount_notes


def board(request):
    context = {
        "notes": Note.objects.all()[:50],
        "settings": BoardSettings.cached(),
        "themes": BoardSettings.Theme.choices,
        "recount": Recount.objects.first(),
    }
    return render(request, "notes/board.html", context)


@require_POST
def create_note(request):
    text = request.POST.get("text", "").strip()[:280]
    if text:
        Note.objects.create(text=text)
    return redirect("board")


@require_POST
def update_settings(request):
    theme = request.POST.get("theme", "")
    if theme in BoardSettings.Theme.values:
        row = BoardSettings.objects.first() or BoardSettings(title=request.tenant.name)
        row.theme = theme
        row.save()
    return redirect("board")


@require_POST
def recount(request):
    recount_notes.delay()
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"queued": True}, status=202)
    return redirect("board")


def recount_status(request):
    row = Recount.objects.first()
    if row is None:
        return JsonResponse({"count": None, "finished_at": None})
    return JsonResponse({"count": row.count, "finished_at": row.finished_at.isoformat()})


@cache_page(60)
def about(request):
    """A page served from the cache for a minute; the rendered-at time shows it."""
    context = {"settings": BoardSettings.cached(), "rendered_at": timezone.now()}
    return render(request, "notes/about.html", context)
