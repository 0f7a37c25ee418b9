"""System checks for the management commands (omnitenant.E050-E059)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register


@register(Tags.compatibility)
def check_commands_not_shadowed(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E050: another app defines a command of the same name and hides omnitenant's."""
    import os

    from django.core.management import find_commands, get_commands

    from omnitenant import management

    commands = get_commands()
    messages: list[CheckMessage] = []
    for name in sorted(find_commands(os.path.dirname(management.__file__))):
        app = commands.get(name)
        if app is not None and app != "omnitenant":
            messages.append(
                Error(
                    f"manage.py {name} runs the command of {app!r}, not omnitenant's.",
                    hint=f"List 'omnitenant' above {app!r} in INSTALLED_APPS: Django runs the "
                    "command of the first app that defines it.",
                    id="omnitenant.E050",
                )
            )
    return messages
