"""Django system checks for omnitenant, one module per area; importing this registers them all.

Ids: omnitenant.E001-E019/W001 settings, E020-E029 caches, E030-E039/W030-W039 requests,
E040-E049/W040-W049 databases, E050-E059 commands, E060-E069 Celery.
"""

from omnitenant.checks.caches import check_cache_isolation_settings
from omnitenant.checks.celery import check_celery
from omnitenant.checks.commands import check_commands_not_shadowed
from omnitenant.checks.databases import check_database_isolation
from omnitenant.checks.requests import (
    check_resolution_cache_alias,
    check_resolution_cache_is_shared,
    check_resolvers,
)
from omnitenant.checks.settings import (
    check_cache_patch,
    check_config_keys,
    check_hosts_and_header,
    check_middleware_and_router,
    check_models,
    check_resolution_cache,
)

__all__ = [
    "check_cache_isolation_settings",
    "check_cache_patch",
    "check_celery",
    "check_commands_not_shadowed",
    "check_config_keys",
    "check_database_isolation",
    "check_hosts_and_header",
    "check_middleware_and_router",
    "check_models",
    "check_resolution_cache",
    "check_resolution_cache_alias",
    "check_resolution_cache_is_shared",
    "check_resolvers",
]
