"""``--state FILE``: fake users, groups, chat links and update-id counters across restarts.

Part of ``Sandbox`` (state.py)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict

from .objects import ChatLink, FakeUser, Group


class PersistenceMixin:
    # ----- persistence (``--state FILE``) --------------------------------------------------

    def _save_state(self) -> None:
        if not self.state_file:
            return
        data = {
            "users": [asdict(u) for u in self.users.values()],
            "groups": [asdict(g) for g in self.groups.values()],
            "links": {str(b.id): {str(k): asdict(v) for k, v in b.links.items()}
                      for b in self.bots.values()},
            "next_update_id": {str(k): v for k, v in self._next_update_id.items()},
        }
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, self.state_file)

    def _load_state(self) -> None:
        if not self.state_file or not os.path.exists(self.state_file):
            return
        with open(self.state_file) as fh:
            data = json.load(fh)
        for u in data.get("users", []):
            self.users[int(u["id"])] = FakeUser(**u)
        for g in data.get("groups", []):
            self.groups[int(g["id"])] = Group(**g)
        for bot_id, links in data.get("links", {}).items():
            if int(bot_id) in self.bots:
                for uid, link in links.items():
                    self.bots[int(bot_id)].links[int(uid)] = ChatLink(**link)
        # Update ids must keep growing across restarts, or the site would take new updates
        # for repeats it already handled: continue from the saved counters.
        for bot_id, n in data.get("next_update_id", {}).items():
            if int(bot_id) in self.bots:
                self._next_update_id[int(bot_id)] = max(self._next_update_id[int(bot_id)], int(n))
