import io

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError

from omnitenant import TenantContext
from omnitenant.exceptions import InvalidTenantId, TenantNotFound
from tests.management.helpers import seen


def run(*args, **options):
    out = io.StringIO()
    call_command("tenant_command", *args, stdout=out, **options)
    return out.getvalue()


def test_wrapped_command_runs_inside_the_tenant(tenants):
    [acme] = seen(run("show_tenant", tenant="acme"))
    [globex] = seen(run("show_tenant", tenant="globex"))
    assert acme["tenant"] == "acme"
    assert globex["tenant"] == "globex"
    assert TenantContext.get_tenant() is None


def test_tenant_option_may_stand_before_or_after_the_command_name(tenants):
    assert seen(run("--tenant", "acme", "show_tenant"))[0]["tenant"] == "acme"
    assert seen(run("--tenant=globex", "show_tenant"))[0]["tenant"] == "globex"
    assert seen(run("show_tenant", "--tenant", "hooli"))[0]["tenant"] == "hooli"
    assert seen(run("show_tenant", "--label", "x", "--tenant=acme"))[0]["tenant"] == "acme"


def test_wrapped_options_and_arguments_pass_through_untouched(tenants):
    [shown] = seen(run("show_tenant", "one", "two", "--label", "L", tenant="acme", verbosity=2))
    assert shown["args"] == ["one", "two"]
    assert shown["label"] == "L"
    assert shown["verbosity"] == 2


def test_shell_command_passes_through(tenants, capsys):
    code = "from omnitenant import TenantContext; print('in', TenantContext.get_tenant().tenant_id)"
    call_command("tenant_command", "shell", "-c", code, tenant="globex")
    assert capsys.readouterr().out.endswith("\nin globex\n")


def test_wrapped_command_failure_propagates_and_restores_no_tenant(tenants):
    with pytest.raises(CommandError, match="show_tenant refused acme"):
        run("show_tenant", "--fail-for", "acme", tenant="acme")
    assert TenantContext.get_tenant() is None


# Bad input: each refused with a message saying what to do, and nothing run.


def test_unknown_tenant_suggests_close_matches(tenants, record):
    with pytest.raises(CommandError) as caught:
        run("show_tenant", "--record", record.path, tenant="acm")
    assert str(caught.value) == "No tenant 'acm'; did you mean 'acme'? See manage.py list_tenants."
    assert isinstance(caught.value, TenantNotFound)
    assert record() == []


def test_unknown_tenant_without_close_match(tenants):
    with pytest.raises(CommandError, match=r"^No tenant 'zzz'; see manage.py list_tenants.$"):
        run("show_tenant", tenant="zzz")


def test_invalid_tenant_id_gives_the_invalid_tenant_id_message(tenants, record):
    with pytest.raises(InvalidTenantId, match=r"^Invalid tenant_id 'Bad Id!': use 1-63 characters"):
        run("show_tenant", "--record", record.path, tenant="Bad Id!")
    with pytest.raises(CommandError, match="Invalid tenant_id 'pg_acme'"):
        run("show_tenant", tenant="pg_acme")
    assert record() == []


def test_inactive_tenant_refused_unless_include_inactive(tenants, record):
    with pytest.raises(CommandError) as caught:
        run("show_tenant", "--record", record.path, tenant="initech")
    assert str(caught.value) == (
        "Tenant 'initech' is inactive; pass --include-inactive to run it anyway."
    )
    assert record() == []
    assert (
        seen(run("show_tenant", tenant="initech", include_inactive=True))[0]["tenant"] == "initech"
    )
    assert seen(run("show_tenant", "--include-inactive", "--tenant", "initech"))[0]["tenant"] == (
        "initech"
    )


def test_missing_tenant_option_says_how_to_pass_it(tenants, record):
    with pytest.raises(CommandError, match=r"^tenant_command needs --tenant TENANT_ID, e\.g\. "):
        run("show_tenant", "--record", record.path)
    with pytest.raises(CommandError, match=r"^--tenant needs a value"):
        run("show_tenant", "--tenant")
    assert record() == []


def test_tenant_given_twice_is_refused(tenants):
    with pytest.raises(CommandError, match=r"^--tenant given twice \('globex' and 'acme'\)"):
        run("show_tenant", "--tenant", "globex", tenant="acme")


def test_unknown_wrapped_command_is_djangos_error(tenants):
    with pytest.raises(CommandError, match=r"^Unknown command: 'no_such_command'$"):
        run("no_such_command", tenant="acme")


# From the command line (manage.py): Django's argv handling, exit codes and stderr.
# run_from_argv closes the connections, hence transactional_db.


def manage(*argv):
    ManagementUtility(["manage.py", *argv]).execute()


@pytest.mark.usefixtures("transactional_db")
def test_command_line_runs_inside_the_tenant(tenants, capsys):
    manage("tenant_command", "show_tenant", "--tenant", "acme", "--skip-checks", "--label", "x")
    [shown] = seen(capsys.readouterr().out)
    assert (shown["tenant"], shown["label"]) == ("acme", "x")
    # Base options may also stand before the wrapped command's name.
    manage("tenant_command", "--skip-checks", "-v", "2", "--tenant=globex", "show_tenant")
    [shown] = seen(capsys.readouterr().out)
    assert (shown["tenant"], shown["verbosity"]) == ("globex", 2)


@pytest.mark.usefixtures("transactional_db")
def test_command_line_options_after_a_double_dash_belong_to_the_wrapped_command(tenants, capsys):
    manage(
        "tenant_command", "show_tenant", "--skip-checks", "--tenant", "acme", "--", "--tenant", "x"
    )
    [shown] = seen(capsys.readouterr().out)
    assert shown["tenant"] == "acme"
    assert shown["args"] == ["--tenant", "x"]


@pytest.mark.usefixtures("transactional_db")
def test_command_line_unknown_command_is_djangos_message(tenants, capsys):
    with pytest.raises(SystemExit) as exited:
        manage("tenant_command", "show_tenan", "--tenant", "acme")
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        "Unknown command: 'show_tenan'. Did you mean show_tenant?\n"
        "Type 'manage.py help' for usage.\n"
    )


@pytest.mark.usefixtures("transactional_db")
def test_command_line_unknown_tenant_exits_1_with_the_message(tenants, capsys, record):
    with pytest.raises(SystemExit) as exited:
        manage("tenant_command", "show_tenant", "--record", record.path, "--tenant", "globx")
    assert exited.value.code == 1
    assert "No tenant 'globx'; did you mean 'globex'? See manage.py list_tenants." in (
        capsys.readouterr().err
    )
    assert record() == []


@pytest.mark.usefixtures("transactional_db")
def test_command_line_help_of_the_wrapped_command_needs_no_tenant(capsys):
    with pytest.raises(SystemExit) as exited:
        manage("tenant_command", "show_tenant", "--help")
    assert exited.value.code == 0
    output = capsys.readouterr().out
    assert "usage: manage.py show_tenant" in output
    assert "--fail-for" in output


@pytest.mark.usefixtures("transactional_db")
def test_command_line_own_help(capsys):
    with pytest.raises(SystemExit):
        manage("tenant_command", "--help")
    output = capsys.readouterr().out
    assert "usage: manage.py tenant_command" in output
    assert "--tenant TENANT_ID" in output
