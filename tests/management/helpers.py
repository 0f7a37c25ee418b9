"""Helpers shared by the management-command tests."""

import json


def seen(output):
    """The JSON lines show_tenant printed, as dicts."""
    return [json.loads(line[line.index("{") :]) for line in output.splitlines() if "{" in line]
