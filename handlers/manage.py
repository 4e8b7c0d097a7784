"""
Lambda entry point of the manage function (zappa_settings.json's `manage` kind sets it as
`lambda_handler`): the site's package, invoked only by the operator.

Every event goes to Zappa's own handler (`zappa manage <stage>_manage <command>` sends
`{"manage": ...}`, `zappa invoke` sends `{"command": ...}`), except one: creating the stage's
database, `zappa invoke <stage>_manage project.ops.database_setup.handler` (docs/DEPLOY.md,
step 6). Zappa's handler sets Django up before it runs any command, and Django's settings need
`database_url`, which is exactly what that command writes: through Zappa it could never run on
a new stage. So it runs here without Django. Zappa's handler is made on the first other
event, so a container that ran the set-up first then loads the settings with the new
`database_url` (and one that had Django already gets the new password: database_setup).
"""

from __future__ import annotations

DATABASE_SETUP = "project.ops.database_setup.handler"


def handler(event, context):
    if isinstance(event, dict) and event.get("command") == DATABASE_SETUP:
        from project.ops import database_setup

        return database_setup.handler(event, context)
    from zappa.handler import lambda_handler

    return lambda_handler(event, context)
