import io
import os
import re

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connection

from omnitenant import TenantContext
from omnitenant.exceptions import InvalidTenantId, TenantNotFound
from tests.management.helpers import seen
from tests.testapp.models import Tenant

ACTIVE = ["acme", "globex", "hooli"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def run(*args, stdout=None, stderr=None, **options):
    out, err = stdout or io.StringIO(), stderr or io.StringIO()
    try:
        call_command("all_tenants_command", *args, stdout=out, stderr=err, **options)
    finally:
        run.out, run.err = out.getvalue(), err.getvalue()
    return run.out


def progress(output):
    """The progress lines, without their timings."""
    return [
        re.sub(r" \(\d+\.\d+s\)", "", line)
        for line in output.splitlines()
        if re.match(r"\[\d+/\d+\] ", line)
    ]


def test_runs_each_active_tenant_once_in_id_order(tenants, record):
    output = run("show_tenant", "--record", record.path)
    assert record() == ACTIVE
    assert progress(output) == ["[1/3] acme ... ok", "[2/3] globex ... ok", "[3/3] hooli ... ok"]
    assert re.search(r"^\[1/3\] acme \.\.\. ok \(\d+\.\ds\)$", output, re.MULTILINE)
    assert re.search(r"^show_tenant: 3 ok, 0 failed of 3 tenants in \d+\.\ds\.$", output, re.M)
    assert TenantContext.get_tenant() is None


def test_each_tenant_sees_itself_and_its_output_is_prefixed_with_it(tenants):
    output = run("show_tenant", "--label", "L", "--print")
    lines = [line for line in output.splitlines() if " | " in line]
    assert [line.split(" | ")[0] for line in lines] == [
        "acme",
        "acme",
        "globex",
        "globex",
        "hooli",
        "hooli",
    ]
    for line in lines:
        prefix, _, text = line.partition(" | ")
        if text.startswith("{"):
            [shown] = seen(text)
            assert (shown["tenant"], shown["label"]) == (prefix, "L")
        else:
            assert text == f"printed by {prefix}"


def test_continues_after_a_failure_and_fails_at_the_end(tenants, record):
    with pytest.raises(CommandError) as caught:
        run("show_tenant", "--record", record.path, "--fail-for", "acme,hooli")
    assert str(caught.value) == "show_tenant failed for 2 of 3 tenants: acme, hooli."
    assert caught.value.returncode == 1
    assert record() == ACTIVE
    assert progress(run.out) == [
        "[1/3] acme ... FAILED: CommandError: show_tenant refused acme",
        "[2/3] globex ... ok",
        "[3/3] hooli ... FAILED: CommandError: show_tenant refused hooli",
    ]
    assert "show_tenant: 1 ok, 2 failed of 3 tenants in" in run.out


def test_a_non_zero_exit_and_a_crash_count_as_failures(tenants):
    with pytest.raises(
        CommandError, match=r"^show_tenant failed for 2 of 3 tenants: acme, hooli\.$"
    ):
        run("show_tenant", "--exit-for", "acme", "--crash-for", "hooli", verbosity=2)
    assert progress(run.out) == [
        "[1/3] acme ... FAILED: exited with status 3",
        "[2/3] globex ... ok",
        "[3/3] hooli ... FAILED: RuntimeError: show_tenant crashed for hooli",
    ]
    # verbosity 2 (or --traceback) shows where it crashed, prefixed with the tenant.
    assert "hooli | Traceback (most recent call last):" in run.err
    assert "hooli | RuntimeError: show_tenant crashed for hooli" in run.err


def test_fail_fast_stops_at_the_first_failure(tenants, record):
    with pytest.raises(CommandError, match="failed for 1 of 3 tenants: globex"):
        run("--fail-fast", "show_tenant", "--record", record.path, "--fail-for", "globex")
    assert record() == ["acme", "globex"]
    assert "show_tenant: 1 ok, 1 failed, 1 not run of 3 tenants in" in run.out


def test_tenants_exclude_and_include_inactive_select_the_tenants(tenants, record):
    run("show_tenant", "--record", record.path, tenants="hooli, acme")
    assert record() == ["acme", "hooli"]
    run("show_tenant", "--record", record.path, exclude="globex")
    assert record()[2:] == ["acme", "hooli"]
    run("--include-inactive", "show_tenant", "--record", record.path)
    assert record()[4:] == ["acme", "globex", "hooli", "initech"]
    run("show_tenant", "--record", record.path, tenants="initech", include_inactive=True)
    assert record()[8:] == ["initech"]


def test_options_after_the_command_name_belong_to_the_command(tenants, record):
    # show_tenant has no --exclude: it is the wrapped command's, not all_tenants_command's,
    # and arguments it would refuse are refused once, before any tenant runs.
    with pytest.raises(CommandError, match=r"^Error: unrecognized arguments: --exclude"):
        run("show_tenant", "--record", record.path, "--exclude", "globex")
    assert record() == []


def test_help_of_the_wrapped_command_is_shown_once(tenants, capsys):
    with pytest.raises(SystemExit):
        run("show_tenant", "--help")
    output = capsys.readouterr().out
    assert output.count("usage:") == 1
    assert "--fail-for" in output


def test_progress_bar_only_on_a_terminal(tenants):
    plain = run("show_tenant")
    assert "#" not in plain
    assert "\r" not in plain
    terminal = run("show_tenant", stdout=Terminal())
    assert "[##########--------------------] 1/3, 0 failed" in terminal
    assert "[##############################] 3/3, 0 failed\r\x1b[2K" in terminal
    assert progress(terminal.replace("\r\x1b[2K", "\n")) == progress(plain)


def test_verbosity_0_prints_only_failures(tenants):
    assert run("show_tenant", verbosity=0).count("...") == 0
    with pytest.raises(CommandError):
        run("show_tenant", "--fail-for", "globex", verbosity=0)
    assert progress(run.out) == [
        "[2/3] globex ... FAILED: CommandError: show_tenant refused globex"
    ]


def test_no_tenants_to_run_for(db):
    assert run("show_tenant") == "No tenants to run for.\n"


# Bad input: refused before any tenant runs.


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"tenants": "acme,acm"}, TenantNotFound, "No tenant 'acm'; did you mean 'acme'?"),
        ({"exclude": "glebex"}, TenantNotFound, "No tenant 'glebex'; did you mean 'globex'?"),
        ({"tenants": "acme,Bad!"}, InvalidTenantId, "Invalid tenant_id 'Bad!': use 1-63"),
        ({"tenants": "acme,initech"}, CommandError, "Tenant 'initech' is inactive; pass --incl"),
        ({"tenants": " , "}, CommandError, "--tenants names no tenant; give ids such as"),
        ({"jobs": 0}, CommandError, "--jobs must be a whole number of at least 1, not 0."),
    ],
)
def test_bad_selection_runs_nothing(tenants, record, options, error, message):
    with pytest.raises(error) as caught:
        run("show_tenant", "--record", record.path, **options)
    assert str(caught.value).startswith(message)
    assert record() == []


def test_unknown_command_runs_nothing(tenants):
    with pytest.raises(CommandError, match=r"^Unknown command: 'show_tenants'$"):
        run("show_tenants")


def test_jobs_refused_inside_a_transaction(tenants, record):
    assert connection.in_atomic_block  # the django_db test transaction
    with pytest.raises(CommandError, match=r"^--jobs 2 cannot run inside a transaction"):
        run("--jobs", "2", "show_tenant", "--record", record.path)
    assert record() == []


# --jobs: worker processes see committed rows only, hence transactional_db.


def outcome(output):
    """What a run did, independent of order and timings: progress and output per tenant."""
    lines = [re.sub(r"\[\d+/", "[", line) for line in progress(output)]
    shown = {s["tenant"]: {**s, "pid": None} for s in seen(output)}
    return sorted(lines), shown


@pytest.mark.usefixtures("transactional_db")
def test_jobs_gives_the_same_results_as_sequential(tenants, record):
    args = ("show_tenant", "--record", record.path, "--fail-for", "globex", "--print")
    with pytest.raises(CommandError) as sequential_error:
        run(*args)
    sequential = run.out
    with pytest.raises(CommandError) as parallel_error:
        run("--jobs", "2", *args)
    parallel = run.out
    assert str(parallel_error.value) == str(sequential_error.value)
    assert outcome(parallel) == outcome(sequential)
    assert sorted(record()[3:]) == record()[:3] == ACTIVE
    # The work ran in worker processes, not here.
    pids = {shown["pid"] for shown in seen(parallel)}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2
    # Each tenant's output stays together and under its own name.
    for line in parallel.splitlines():
        if " | " in line:
            prefix, _, text = line.partition(" | ")
            assert text in (f"printed by {prefix}",) or seen(text)[0]["tenant"] == prefix


@pytest.mark.usefixtures("transactional_db")
def test_jobs_fail_fast_starts_no_new_tenant(tenants, record):
    for number in range(10):
        Tenant.objects.create(tenant_id=f"z{number}", name=f"Z{number}")
    args = ("show_tenant", "--record", record.path, "--fail-for", "acme", "--sleep", "0.2")
    with pytest.raises(CommandError, match=r"^show_tenant failed for 1 of 13 tenants: acme\.$"):
        run("--jobs", "2", "--fail-fast", *args)
    assert "acme" in record()
    assert len(record()) < 13
    not_run = 13 - len(record())
    assert f"1 failed, {not_run} not run of 13 tenants" in run.out


@pytest.mark.usefixtures("transactional_db")
def test_jobs_a_dying_worker_fails_its_tenant_and_the_others_go_on(tenants, record):
    with pytest.raises(CommandError, match=r"^show_tenant failed for 1 of 3 tenants: acme\.$"):
        run("--jobs", "2", "show_tenant", "--record", record.path, "--die-for", "acme")
    assert "] acme ... FAILED (0.0s): its worker process died" in run.out
    assert sorted(record()) == ACTIVE
    assert "show_tenant: 2 ok, 1 failed of 3 tenants in" in run.out


# From the command line.


@pytest.mark.usefixtures("transactional_db")
def test_command_line_exit_status_and_messages(tenants, capsys):
    manage = ManagementUtility
    manage(["manage.py", "all_tenants_command", "--skip-checks", "show_tenant"]).execute()
    assert progress(capsys.readouterr().out)[-1] == "[3/3] hooli ... ok"
    with pytest.raises(SystemExit) as exited:
        manage(
            [
                "manage.py",
                "all_tenants_command",
                "--skip-checks",
                "show_tenant",
                "--fail-for",
                "acme",
            ]
        ).execute()
    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert "[1/3] acme ... FAILED" in captured.out
    assert captured.err == "CommandError: show_tenant failed for 1 of 3 tenants: acme.\n"
    with pytest.raises(SystemExit) as exited:
        manage(["manage.py", "all_tenants_command", "--skip-checks", "show_tenantt"]).execute()
    assert exited.value.code == 1
    assert capsys.readouterr().err.startswith(
        "Unknown command: 'show_tenantt'. Did you mean show_tenant?"
    )


def test_a_wrapped_tenant_option_is_refused_before_any_tenant_runs(tenants, record):
    with pytest.raises(
        CommandError, match="runs tenant_report once per tenant; drop --tenant globex"
    ):
        run("tenant_report", "quarterly", "--tenant", "globex")
    with pytest.raises(CommandError, match="drop --tenant acme"):
        run("tenant_report", "quarterly", "--tenant=acme")
    assert record() == []
