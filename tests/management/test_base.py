import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from omnitenant import TenantContext
from omnitenant.exceptions import TenantNotFound


def report(*args, **options):
    return call_command("tenant_report", *args, stdout=io.StringIO(), **options)


def test_tenant_option_runs_handle_inside_the_tenant(tenants):
    assert report("L", tenant="acme") == "L: acme (active acme)"
    assert report("L", "--tenant", "globex") == "L: globex (active globex)"
    assert TenantContext.get_tenant() is None


def test_without_the_option_it_runs_in_the_active_tenant(tenants):
    with TenantContext.use_tenant(tenants["hooli"]):
        assert report("L") == "L: hooli (active hooli)"
        assert report("L", tenant="acme") == "L: acme (active acme)"
        assert TenantContext.get_tenant() == tenants["hooli"]


def test_wrapped_by_tenant_command(tenants):
    out = io.StringIO()
    call_command("tenant_command", "tenant_report", "L", tenant="globex", stdout=out)
    assert out.getvalue() == "L: globex (active globex)\n"


def test_no_tenant_at_all_is_refused(tenants):
    with pytest.raises(CommandError) as caught:
        report("L")
    assert str(caught.value) == (
        "tenant_report runs inside a tenant: pass --tenant TENANT_ID (see manage.py list_tenants)."
    )


def test_bad_tenants_are_refused_with_their_message(tenants):
    with pytest.raises(TenantNotFound, match=r"^No tenant 'hoolie'; did you mean 'hooli'\?"):
        report("L", tenant="hoolie")
    with pytest.raises(
        CommandError, match=r"^Tenant 'initech' is inactive; pass --include-inactive"
    ):
        report("L", tenant="initech")
    assert report("L", tenant="initech", include_inactive=True) == "L: initech (active initech)"
