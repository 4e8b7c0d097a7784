"""
The stage's Lambda functions, as the operator commands see them (names from project.ops.conf).

`refresh_secret_cache` makes every running container of a function read the stage secret
again. Containers read it once and keep it (project.core.secrets), which is right for a
value that never changes between deploys, and wrong for the few minutes of a rotation: a
warm webhook container would keep only the old webhook secret and refuse Telegram's first
deliveries with the new one. Changing a function's configuration makes Lambda start new
containers for every later invocation; the variable written (the secret's version id) also
says in the console which secret version the function last saw. A later `zappa update`
rewrites the environment without it, which is harmless.
"""

from __future__ import annotations

import logging
import time

from project.ops import conf

logger = logging.getLogger(__name__)

SECRET_VERSION_VARIABLE = "STAGE_SECRET_VERSION"


def _lambda():
    from project.core.aws import client

    return client("lambda")


def get_configuration(kind: str) -> dict | None:
    lam = _lambda()
    try:
        return lam.get_function_configuration(FunctionName=conf.function_name(kind))
    except lam.exceptions.ResourceNotFoundException:
        return None


def refresh_secret_cache(kind: str, version: str, *, timeout: float = 60, sleep=time.sleep) -> bool:
    """Start fresh containers for the `kind` function; False if the function does not exist."""
    configuration = get_configuration(kind)
    if configuration is None:
        logger.warning("function %s not found: its containers keep their cached secret", conf.function_name(kind))
        return False
    variables = dict((configuration.get("Environment") or {}).get("Variables") or {})
    variables[SECRET_VERSION_VARIABLE] = version or str(int(time.time()))
    lam = _lambda()
    lam.update_function_configuration(FunctionName=conf.function_name(kind), Environment={"Variables": variables})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = lam.get_function_configuration(FunctionName=conf.function_name(kind)).get("LastUpdateStatus")
        if status in (None, "Successful"):
            return True
        if status == "Failed":
            raise RuntimeError(f"Lambda could not update {conf.function_name(kind)}'s configuration.")
        sleep(1)
    raise RuntimeError(f"{conf.function_name(kind)}'s configuration update did not finish in {timeout:.0f} s.")
