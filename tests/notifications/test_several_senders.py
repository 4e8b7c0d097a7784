"""
Several sender processes at once, sharing one database (a file SQLite database, or the
PostgreSQL test database), one queue in moto's server, and the sandbox enforcing Telegram's
limits (scaled down so the test is short). Every delivery is enqueued twice, so the
processes also race to claim the same deliveries.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from infra.local.telegram_sandbox.limits import Limits
from tests.notifications.sender_worker import max_in_window

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def shared_database(request, tmp_path):
    """A DATABASE_URL every process can open, and a function to run SQL on it from here."""
    if connection.vendor == "postgresql":
        # The test must be marked django_db(transaction=True): its workers commit to the test
        # database, which is then emptied after it (asking for transactional_db from here
        # comes too late for pytest-django to notice, and nothing would be emptied).
        assert request.node.get_closest_marker("django_db"), "mark the test django_db(transaction=True)"
        s = connection.settings_dict
        url = f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"

        def query(sql):
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()

        return url, query
    path = tmp_path / "senders.sqlite3"
    url = f"sqlite:///{path}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)

    def query(sql):
        with sqlite3.connect(path) as db:
            return db.execute(sql).fetchall()

    return url, query


@pytest.mark.django_db(transaction=True)  # the workers commit: the database is emptied after the test
def test_several_senders_share_the_limits_and_send_each_delivery_once(aws, sandbox, shared_database):
    url, query = shared_database
    chats, per_chat, first_chat = 10, 4, 910_001
    for chat in range(first_chat, first_chat + chats):
        sandbox.add_user(chat, first_name=f"Chat {chat}")
    # The sandbox enforces 10 a second for the bot and 3 in 3 s per chat; our senders are
    # configured below that, with a margin for the jitter of a busy machine.
    sandbox.set_limits(Limits(global_per_second=10, global_window=1.0, private_per_window=3, private_window=3.0))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": url,
        "OUTBOX_QUEUE_URL": aws.queue_url,
        "TELEGRAM_API_BASE_URL": sandbox.url,
        "NOTIF_SETTINGS": json.dumps({"TELEGRAM_GLOBAL_RATE": 8.0, "TELEGRAM_PRIVATE_CHAT_INTERVAL": 1.1}),
    }
    worker = [sys.executable, "-m", "tests.notifications.sender_worker"]
    seeded = subprocess.run(
        [*worker, "seed", "--chats", str(chats), "--per-chat", str(per_chat), "--first-chat", str(first_chat),
         "--duplicate", "--order", "by-chat"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )
    ids = json.loads(seeded.stdout.strip().splitlines()[-1])
    assert len(ids) == chats * per_chat

    senders = [
        subprocess.Popen([*worker, "run", "--idle-exit", "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120) for process in senders]
    for process, (out, err) in zip(senders, outputs):
        assert process.returncode == 0, err[-2000:]
    stats = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert sum(1 for s in stats if s.get("sent")) >= 2, f"the work was not shared: {stats}"

    delivered = sandbox.delivered()
    assert not sandbox.refused(), [r.to_dict() for r in sandbox.refused()]
    # Each delivery once, although each was enqueued twice and three processes raced for it.
    texts = Counter(r.params["text"] for r in delivered)
    assert len(texts) == chats * per_chat and set(texts.values()) == {1}
    assert max_in_window([r.time for r in delivered], 1.0) <= 10
    for chat in range(first_chat, first_chat + chats):
        assert max_in_window([r.time for r in delivered if r.chat_id == chat], 3.0) <= 3
    statuses = dict(query("SELECT status, COUNT(*) FROM notifications_delivery GROUP BY status"))
    assert statuses == {"sent": chats * per_chat}
    assert aws.receive(wait=0) == []
