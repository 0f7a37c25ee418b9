from django.core.checks import Error
from django.test import override_settings

from omnitenant import checks
from omnitenant.conf import get_config
from tests.settings import OMNITENANT_CONFIG


def test_celery_tenant_not_found_defaults_to_fail():
    assert get_config().celery_tenant_not_found == "fail"
    assert checks.check_celery() == []


def test_celery_tenant_not_found_accepts_reject():
    with override_settings(
        OMNITENANT_CONFIG={**OMNITENANT_CONFIG, "CELERY_TENANT_NOT_FOUND": "reject"}
    ):
        assert get_config().celery_tenant_not_found == "reject"
        assert checks.check_celery() == []


def test_unknown_celery_tenant_not_found_action_is_e060():
    with override_settings(
        OMNITENANT_CONFIG={**OMNITENANT_CONFIG, "CELERY_TENANT_NOT_FOUND": "ignore"}
    ):
        assert checks.check_celery() == [
            Error(
                "OMNITENANT_CONFIG['CELERY_TENANT_NOT_FOUND'] = 'ignore' is not a known action.",
                hint="Use 'fail' (the task fails with TenantNotFound) or 'reject' (the message "
                "is rejected without a result).",
                id="omnitenant.E060",
            )
        ]
