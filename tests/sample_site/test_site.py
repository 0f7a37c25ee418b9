"""The sample site over HTTP, served by gunicorn, on the embedded default and on PostgreSQL/Redis.

Every test works with two tenants and asserts what the other one must not see.
"""

import html
import json
import re
import time
import uuid

import pytest


def notes_of(page: str) -> list[str]:
    block = re.search(r'<ul class="notes" id="notes">(.*?)</ul>', page, re.DOTALL)
    assert block, page
    return [html.unescape(text).strip() for text in re.findall(r"<li>(.*?) <time", block[1])]


def panel(page: str) -> dict[str, str]:
    return {
        "title": re.search(r'id="settings-title">([^<]*)<', page)[1],
        "theme": re.search(r'id="settings-theme">([^<]*)<', page)[1],
        "body": re.search(r'<body class="([^"]*)"', page)[1],
    }


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError("timed out waiting for the condition")


def test_public_site_lists_the_demo_tenants_with_links(site):
    page = site.client("localhost").get("/")
    assert page.status == 200
    assert f'href="http://acme.localhost:{site.port}/"' in page.text
    assert f'href="http://globex.localhost:{site.port}/"' in page.text
    assert "Acme Corporation" in page.text
    assert "Globex Corporation" in page.text


def test_admin_is_served_on_the_public_host_only(site):
    public = site.client("localhost")
    assert public.get("/admin/login/").status == 200
    assert public.get("/static/admin/css/base.css").status == 200
    assert site.client("acme.localhost").get("/admin/login/").status == 404
    assert site.client("acme.localhost").get("/static/admin/css/base.css").status == 404


def test_each_tenant_sees_its_demo_notes_only(site):
    acme = notes_of(site.client("acme.localhost").get("/").text)
    globex = notes_of(site.client("globex.localhost").get("/").text)
    assert "Order more anvils" in acme
    assert "Quarterly review with Hank" in globex
    assert not set(acme) & set(globex)


def test_note_created_in_acme_is_not_in_globex(site):
    text = f"acme secret {uuid.uuid4().hex}"
    acme = site.client("acme.localhost")
    response = acme.post("/notes/", {"text": text})
    assert response.status == 302
    assert text in notes_of(acme.get("/").text)
    assert text not in notes_of(site.client("globex.localhost").get("/").text)
    assert text not in site.client("localhost").get("/").text


def test_settings_panel_is_cached_per_tenant(site):
    # Both tenants read the same cache key "board-settings"; each gets its own entry.
    acme_client, globex_client = site.client("acme.localhost"), site.client("globex.localhost")
    for _ in range(2):  # the second round is served from the cache
        acme, globex = panel(acme_client.get("/").text), panel(globex_client.get("/").text)
        assert acme["title"] == "Acme Corporation"
        assert globex["title"] == "Globex Corporation"
        assert acme["body"] == f"theme-{acme['theme']}"
        assert globex["body"] == f"theme-{globex['theme']}"
    assert acme["theme"] != globex["theme"]


def test_changing_a_theme_changes_only_that_tenant(site):
    acme_client, globex_client = site.client("acme.localhost"), site.client("globex.localhost")
    globex_before = panel(globex_client.get("/").text)
    assert acme_client.post("/settings/", {"theme": "sunset"}).status == 302
    try:
        assert panel(acme_client.get("/").text)["theme"] == "sunset"
        assert panel(globex_client.get("/").text) == globex_before
    finally:
        acme_client.post("/settings/", {"theme": "ocean"})
    assert panel(acme_client.get("/").text)["theme"] == "ocean"


def test_cached_banner_fragment_shows_each_tenant_its_own_name(site):
    for host, name, other in [
        ("acme.localhost", "Acme Corporation", "Globex Corporation"),
        ("globex.localhost", "Globex Corporation", "Acme Corporation"),
    ]:
        for _ in range(2):
            banner = re.search(
                r'<header class="banner" id="banner">(.*?)</header>',
                site.client(host).get("/").text,
                re.DOTALL,
            )[1]
            assert name in banner
            assert other not in banner


def test_cache_page_serves_a_tenant_its_own_cached_copy(site):
    acme_client, globex_client = site.client("acme.localhost"), site.client("globex.localhost")
    first = acme_client.get("/about/").text
    again = acme_client.get("/about/").text
    rendered = re.search(r'id="rendered-at">([^<]*)<', first)[1]
    assert re.search(r'id="rendered-at">([^<]*)<', again)[1] == rendered  # from the cache
    globex = globex_client.get("/about/").text
    assert re.search(r'id="about-tenant">([^<]*)<', globex)[1] == "globex"
    assert "Acme Corporation" not in globex


def test_recount_task_runs_inside_the_tenant_that_queued_it(site):
    acme_client, globex_client = site.client("acme.localhost"), site.client("globex.localhost")
    acme_client.post("/notes/", {"text": f"to count {uuid.uuid4().hex}"})
    acme_count = len(notes_of(acme_client.get("/").text))
    globex_before = json.loads(globex_client.get("/recount/status/").text)

    response = acme_client.post("/recount/", {}, headers={"Accept": "application/json"})
    assert response.status == 202

    def counted():
        status = json.loads(acme_client.get("/recount/status/").text)
        return status if status["count"] == acme_count else None

    status = wait_for(counted)
    assert status["finished_at"]
    assert f"{acme_count} notes counted at" in acme_client.get("/").text
    # globex's result is untouched by acme's task.
    assert json.loads(globex_client.get("/recount/status/").text) == globex_before


@pytest.mark.parametrize("host", ["unknown.localhost", "www.acme.localhost"])
def test_unknown_host_gets_the_not_found_page(site, host):
    response = site.client(host).get("/")
    assert response.status == 404
    assert "is not one of our tenants" in response.text
    assert "Acme Corporation" not in response.text
    assert "Globex Corporation" not in response.text
