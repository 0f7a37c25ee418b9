"""manage.py demo_setup: twice in a row gives the same tenants and data, without errors."""

import json

import pytest

from tests.sample_site.harness import manage, reset_postgres, shell, site_env

SUMMARY = """
import json
from customers.models import Domain, Tenant
from notes.models import BoardSettings, Note
from omnitenant.context import TenantContext
result = {}
for tenant in Tenant.objects.order_by("tenant_id"):
    with TenantContext.use_tenant(tenant):
        result[tenant.tenant_id] = {
            "isolation": tenant.isolation_type,
            "domains": list(Domain.objects.filter(tenant=tenant).values_list("domain", flat=True)),
            "notes": sorted(Note.objects.values_list("text", flat=True)),
            "settings": list(BoardSettings.objects.values_list("title", "theme")),
        }
print(json.dumps(result))
"""


def summary(env):
    return json.loads(shell(env, SUMMARY))


@pytest.mark.parametrize(
    ("variant", "isolation"), [("embedded", "database"), ("postgres", "schema")]
)
def test_demo_setup_is_idempotent(tmp_path, variant, isolation):
    env = site_env(variant, tmp_path)
    if variant == "postgres":
        reset_postgres()
    first = manage(env, "demo_setup")
    assert "Demo tenants ready: acme, globex" in first.stdout
    after_first = summary(env)
    second = manage(env, "demo_setup")
    assert "Demo tenants ready" in second.stdout
    assert summary(env) == after_first

    assert set(after_first) == {"acme", "globex"}
    assert after_first["acme"]["isolation"] == isolation
    assert after_first["acme"]["domains"] == ["acme.localhost"]
    assert after_first["acme"]["settings"] == [["Acme Corporation", "ocean"]]
    assert after_first["globex"]["settings"] == [["Globex Corporation", "forest"]]
    assert "Order more anvils" in after_first["acme"]["notes"]
    assert not set(after_first["acme"]["notes"]) & set(after_first["globex"]["notes"])
    if variant == "embedded":
        # database isolation on SQLite: one file per tenant next to the shared one
        assert sorted(p.name for p in (tmp_path / "tenants").iterdir()) == [
            "acme.sqlite3",
            "globex.sqlite3",
        ]


def test_demo_setup_creates_the_admin_only_with_a_password_from_the_environment(tmp_path):
    env = site_env("embedded", tmp_path)
    count = "from django.contrib.auth.models import User; print(User.objects.count())"
    manage(env, "demo_setup")
    assert shell(env, count) == "0"
    manage({**env, "DJANGO_SUPERUSER_PASSWORD": "from-the-env"}, "demo_setup")
    check = (
        "from django.contrib.auth.models import User; "
        "print(User.objects.get(username='admin').check_password('from-the-env'))"
    )
    assert shell(env, check) == "True"
