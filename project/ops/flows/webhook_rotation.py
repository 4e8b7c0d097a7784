"""
Rotating the webhook secret without losing (or even delaying) an update
(`manage.py rotate_webhook_secret`).

Telegram attaches the secret it was last given to every delivery, including the retries of
updates it already holds. The webhook accepts every value in webhook_secrets(): the current
one and, during a rotation, the previous one. So, in this order:

  1. write the new secret as telegram_webhook_secret, keeping the old one as
     telegram_webhook_secret_previous; the webhook now accepts both;
  2. make the webhook's running containers read the secret again (they cache it);
  3. setWebhook with the new secret; from here Telegram sends only the new one;
  4. wait until the deliveries that may still carry the old header are done: Telegram's
     pending_update_count at 0, and at least a grace period (a request already on the wire);
  5. remove the previous secret and refresh the containers again.

Done in another order, Telegram would for a while send a secret the webhook refuses (401);
it would keep and resend those updates, so nothing is lost even then, but they arrive late
and Telegram slows down for a failing endpoint. A rotation that stopped half way leaves
telegram_webhook_secret_previous in the secret; `--finish` completes it (refresh the webhook's
containers, setWebhook with the current secret, drain, remove), and a new rotation refuses
to start before that.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from project.ops import conf
from project.ops.errors import OpsError
from project.ops.flows import functions, stage_secret

logger = logging.getLogger(__name__)


class UnfinishedRotation(OpsError):
    pass


@dataclass
class RotationResult:
    steps: list[str] = field(default_factory=list)
    drained: bool = False
    pending_update_count: int = 0
    containers_refreshed: bool = False

    def step(self, text: str) -> None:
        logger.info("rotation: %s", text)
        self.steps.append(text)


def _refresh(result: RotationResult) -> None:
    refreshed = functions.refresh_secret_cache("webhook", stage_secret.current_version_id())
    result.containers_refreshed = result.containers_refreshed or refreshed
    if refreshed:
        result.step(f"webhook function {conf.function_name('webhook')} restarted its containers")
    else:
        result.step(f"no function {conf.function_name('webhook')} here; only this process re-read the secret")


def _drain(result, *, drain_timeout, grace, sleep, clock, on_step) -> None:
    from project.bot.flows.webhook_setup import webhook_status

    started = clock()
    while True:
        status = webhook_status()
        result.pending_update_count = status.pending_update_count
        waited = clock() - started
        if status.pending_update_count == 0 and waited >= grace:
            result.drained = True
            result.step(f"no pending updates after {waited:.0f} s")
            return
        if waited >= drain_timeout:
            # What is still pending will be delivered with the new secret; only a request
            # already on the wire with the old one could be refused, and Telegram resends it.
            result.step(
                f"{status.pending_update_count} updates still pending after {waited:.0f} s; "
                "they will arrive with the new secret"
            )
            return
        on_step("draining")
        sleep(min(1.0, max(0.05, grace / 10)))


def rotate_webhook_secret(
    *,
    finish_only: bool = False,
    drain_timeout: float | None = None,
    grace: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_step: Callable[[str], None] = lambda name: None,
) -> RotationResult:
    """Rotate (or, with finish_only, complete an interrupted rotation); see the module docstring."""
    from project.bot.flows.webhook_setup import register_webhook

    drain_timeout = conf.rotation_drain_timeout() if drain_timeout is None else drain_timeout
    grace = conf.rotation_grace_seconds() if grace is None else grace
    result = RotationResult()
    state = stage_secret.read()
    current = state.values.get("telegram_webhook_secret", "")
    previous = state.values.get("telegram_webhook_secret_previous", "")
    if not current:
        raise OpsError("The stage secret has no telegram_webhook_secret yet: run put_bot_token first.")

    if finish_only:
        if not previous:
            result.step("no rotation to finish (no previous secret)")
            result.drained = True
            return result
        new = current
        result.step("finishing the interrupted rotation")
        # The rotation may have stopped before its refresh: warm webhook containers could
        # still hold only the old secret, and would refuse what setWebhook makes Telegram send.
        _refresh(result)
        on_step("refreshed")
    else:
        if previous:
            raise UnfinishedRotation(
                "A previous rotation did not finish (telegram_webhook_secret_previous is still set). "
                "Run rotate_webhook_secret --finish first."
            )
        new = stage_secret.new_webhook_secret()
        stage_secret.update({"telegram_webhook_secret": new, "telegram_webhook_secret_previous": current})
        result.step("new secret written; the webhook accepts the old and the new one")
        on_step("written")
        _refresh(result)
        on_step("refreshed")

    status = register_webhook(secret=new)
    result.step(f"setWebhook called with the new secret for {status.url}")
    on_step("registered")

    _drain(result, drain_timeout=drain_timeout, grace=grace, sleep=sleep, clock=clock, on_step=on_step)

    stage_secret.update(remove=["telegram_webhook_secret_previous"])
    result.step("previous secret removed; only the new one is accepted")
    _refresh(result)
    on_step("finished")
    return result
