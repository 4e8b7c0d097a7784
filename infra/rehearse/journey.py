"""
The rehearsed stage, used as its people use it: every step over HTTPS to the stage's own
domains (API Gateway -> the functions), the mail read from what SES sent in moto, Telegram
played by the sandbox (its users press buttons and type in their chats; the bot's messages
come from the sender function through the Bot API). One line per step (see __main__.py).
"""

from __future__ import annotations

import re
import time
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

LINK = re.compile(r"https://[^\s\"'<>]+/accounts/login/link/[^\s\"'<>]+")
# The code on a line of its own (ACCOUNT_LOGIN_BY_CODE_FORMAT: 8 characters, dashed: ABCD-EFGH).
CODE = re.compile(r"(?m)^[ \t]+([A-Z0-9]{3,}(?:-[A-Z0-9]{3,})*)[ \t]*\r?$")


class StepFailed(Exception):
    pass


def wait_for(what: str, check, timeout: float = 45.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise StepFailed(f"{what} did not happen within {timeout:.0f} s")


class Browser:
    """A person's browser: cookies, CSRF as Django expects over HTTPS, redirects followed
    by hand so each hop is checked."""

    def __init__(self, stage, name: str):
        self.stage = stage
        self.name = name
        self.site = f"https://{stage.config.domain}"
        self.http = stage.network.httpx_client(timeout=60, follow_redirects=False)

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else self.site + path

    def get(self, path: str, *, expect=(200,)):
        answer = self.http.get(self.url(path))
        self._check("GET", path, answer, expect)
        return answer

    def post(self, path: str, data: dict, *, expect=(302, 303)):
        url = self.url(path)
        token = self.http.cookies.get("csrftoken")
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        answer = self.http.post(url, data={**({"csrfmiddlewaretoken": token} if token else {}), **data},
                                headers={"Referer": url, "Origin": origin})
        self._check("POST", path, answer, expect)
        return answer

    def _check(self, verb, path, answer, expect):
        if answer.status_code not in expect:
            body = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text))[:300]
            from infra.rehearse.apigateway import logged_path

            raise StepFailed(f"{self.name}: {verb} {logged_path(urlsplit(path).path)} answered {answer.status_code}, expected "
                             f"{'/'.join(map(str, expect))}: {body}" + self.site_log(answer.status_code))

    def site_log(self, status: int) -> str:
        """On a 5xx, what the site function logged about it (its own log, as CloudWatch has it)."""
        if status < 500:
            return ""
        from infra.rehearse.runtime import LOG_DIR

        log = LOG_DIR / f"{self.stage.config.function_name('site')}.log"
        lines = log.read_text(errors="replace").splitlines()[-200:] if log.exists() else []
        import json as json_lib

        errors = []
        for line in lines:
            try:
                record = json_lib.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("level") in ("ERROR", "CRITICAL"):
                last = (record.get("exception") or "").strip().splitlines()[-3:]
                errors.append(f"{record.get('message')}" + (f" -- {' '.join(l.strip() for l in last)}" if last else ""))
        return ("\n        the site function logged:\n        " + "\n        ".join(e[:500] for e in errors[-4:])
                if errors else "")

    def follow(self, answer, *, limit: int = 6):
        for _ in range(limit):
            if answer.status_code not in (301, 302, 303):
                return answer
            answer = self.get(urljoin(str(answer.url), answer.headers["location"]), expect=(200, 301, 302, 303))
        return answer

    def signed_in(self) -> bool:
        return self.http.get(self.url("/accounts/")).status_code == 200


# --- mail -------------------------------------------------------------------------------------

def mail_to(stage, address: str, after: int, *, about: str = "") -> str:
    """The text of the newest email to `address` sent after the first `after`, waiting for one
    (that mentions `about`, when given: other mail, such as a security notice, may be on its
    way through the outbox at the same time)."""
    def newest():
        sent = stage.world.sent_emails()[after:]
        found = [text_of(m) for m in sent if address in (m.get("raw") or "") or address in str(m.get("destinations"))]
        found = [text for text in found if about in text]
        return found[-1] if found else None

    return wait_for(f"an email to {address}" + (f" about {about!r}" if about else "") + " in SES's sent mail", newest)


def text_of(message: dict) -> str:
    raw = message.get("raw") or message.get("body") or ""
    import email as email_lib

    parsed = email_lib.message_from_string(raw)
    parts = [p for p in parsed.walk() if p.get_content_type() == "text/plain"] or [parsed]
    return "\n".join(p.get_payload(decode=True).decode("utf-8", "replace") for p in parts if p.get_payload(decode=True))


def request_sign_in_mail(stage, browser: Browser, address: str) -> str:
    before = len(stage.world.sent_emails())
    browser.get("/accounts/login/")
    answer = browser.post("/accounts/login/", {"email": address})
    if "/accounts/login/code/confirm/" not in answer.headers.get("location", ""):
        raise StepFailed(f"the sign-in form sent {browser.name} to {answer.headers.get('location')}")
    return mail_to(stage, address, before)


# --- the steps --------------------------------------------------------------------------------

def site_answers(stage, people):
    browser = Browser(stage, "a visitor")
    answer = browser.get("/")
    return f"https://{stage.config.domain}/ answered {answer.status_code}"


def email_link(stage, people):
    ada = people["ada"] = Browser(stage, "Ada")
    body = request_sign_in_mail(stage, ada, "ada@example.com")
    link = LINK.search(body)
    if not link:
        raise StepFailed("the sign-in email has no sign-in link")
    page = ada.get(link.group(0))
    form = re.search(r'<form[^>]*method="post"[^>]*action="([^"]*)"', page.text)
    ada.follow(ada.post(unescape(form.group(1)) if form and form.group(1) else link.group(0), {}))
    if not ada.signed_in():
        raise StepFailed("Ada followed the link and pressed the button, but is not signed in")
    return "the link opened a page whose button signed Ada in"


def email_code(stage, people):
    bea = people["bea"] = Browser(stage, "Bea")
    body = request_sign_in_mail(stage, bea, "bea@example.com")
    code = CODE.search(body)
    if not code:
        raise StepFailed("the sign-in email has no code")
    bea.follow(bea.post("/accounts/login/code/confirm/", {"code": code.group(1)}))
    if not bea.signed_in():
        raise StepFailed("Bea typed the code but is not signed in")
    return "the code from the email signed Bea in"


def _to_telegram(browser: Browser, login_path: str) -> str:
    browser.get(login_path)
    answer = browser.post(login_path, {})
    location = answer.headers["location"]
    if not location.startswith("https://oauth.telegram.org/auth?"):
        raise StepFailed(f"the site sent {browser.name} to {location}, not to Telegram's /auth")
    return location


def _telegram_decides(stage, browser: Browser, auth_url: str, **user) -> str:
    """On Telegram's page, the person (a new fake user) confirms: where Telegram sends them back."""
    page = browser.http.get(auth_url)
    if page.status_code != 200:
        raise StepFailed(f"Telegram's sign-in page answered {page.status_code}")
    form = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
    form.update({"user_id": "new", **user})
    answer = browser.http.post("https://oauth.telegram.org/auth", data=form)
    if answer.status_code not in (302, 303):
        raise StepFailed(f"Telegram refused the sign-in: {answer.status_code} {answer.text[:200]}")
    return answer.headers["location"]


def telegram_legacy(stage, people):
    tess = people["tess"] = Browser(stage, "Tess")
    auth_url = _to_telegram(tess, "/accounts/telegram/login/?process=login")
    back = _telegram_decides(stage, tess, auth_url, new_id="5550001", first_name="Tess", username="tess")
    base, _, fragment = back.partition("#")
    result = fragment.partition("tgAuthResult=")[2]
    tess.get(base)
    tess.follow(tess.post(base, {"tgAuthResult": result}))
    if not tess.signed_in():
        raise StepFailed("Telegram's signed result came back, but Tess is not signed in")
    people["tess_id"] = 5550001
    return "Tess signed in with Telegram's signed redirect (and allowed the bot to write)"


def telegram_oidc(stage, people):
    otto = people["otto"] = Browser(stage, "Otto")
    auth_url = _to_telegram(otto, "/accounts/oidc/telegram-oidc/login/?process=login")
    back = _telegram_decides(stage, otto, auth_url, new_id="5550002", first_name="Otto")
    otto.follow(otto.get(back, expect=(302, 303)))
    if not otto.signed_in():
        raise StepFailed("Telegram's code came back, but Otto is not signed in (the token exchange failed?)")
    return "Otto signed in by OpenID Connect (the site exchanged the code at Telegram's /token)"


def _profile(browser: Browser, name: str) -> None:
    browser.get("/people/profile/")
    browser.post("/people/profile/", {"display_name": name, "bio": "", "discoverable": "on"})


def _request_to(stage, sender: Browser, name: str, message: str) -> None:
    """From the people page, as a person does: the card with that name, its request form."""
    page = sender.get("/people/")
    found = re.search(r'<article[^>]*id="person-(\d+)"[^>]*>\s*<h3>' + re.escape(name) + r"</h3>", page.text)
    if not found:
        raise StepFailed(f"{name} is not on {sender.name}'s people page")
    form = f"/people/{found.group(1)}/request/"
    if f'action="{form}"' not in page.text:
        raise StepFailed(f"{sender.name}'s people page offers no match request to {name}")
    sender.post(form, {"message": message})


def match_request(stage, people):
    _profile(people["tess"], "Tess")
    _request_to(stage, people["ada"], "Tess", "Coffee on Saturday?")
    tess_id = people["tess_id"]

    def request_in_chat():
        for message in stage.telegram.messages(tess_id):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if str(button.get("callback_data", "")).endswith(":accept"):
                        return message, button["callback_data"]
        return None

    people["request_message"] = wait_for("the match request in Tess's Telegram chat", request_in_chat, timeout=60)
    return "site -> SQS -> sender -> Telegram: the request is in Tess's chat with its buttons"


def accept_in_chat(stage, people):
    message, data = people["request_message"]
    stage.telegram.user_presses(people["tess_id"], message["message_id"], data)

    def accepted():
        page = people["ada"].get("/requests/")
        return "ccepted" in page.text

    wait_for("Ada's requests page showing the request accepted", accepted, timeout=60)
    return "Telegram -> webhook (HTTPS, secret header) -> accepted; Ada's page says so"


def connect_telegram(stage, people):
    """Ada (signed in by email) connects Telegram from her account, allowing the bot to write."""
    ada = people["ada"]
    auth_url = _to_telegram(ada, "/accounts/telegram/login/?process=connect")
    back = _telegram_decides(stage, ada, auth_url, new_id="5550003", first_name="Ada", request_access="write")
    base, _, fragment = back.partition("#")
    ada.get(base)
    ada.follow(ada.post(base, {"tgAuthResult": fragment.partition("tgAuthResult=")[2]}))
    people["ada_id"] = 5550003
    if "5550003" not in ada.get("/accounts/").text and "Telegram" not in ada.get("/accounts/").text:
        raise StepFailed("Ada's account page does not show Telegram connected")
    return "Ada's email account now has Telegram too"


def forbidden_falls_back_to_email(stage, people):
    """Telegram answers 403 (the bot was blocked) when the sender delivers to Ada: she gets
    the notification by email instead."""
    _profile(people["ada"], "Ada")
    # The 403 must meet this request's message, not one still on its way (the security
    # notice of the step before goes to Ada's Telegram too).
    wait_for("the outbox queue to drain", lambda: outbox_empty(stage))
    stage.telegram.fail_next("sendMessage", 403, count=1, description="Forbidden: bot was blocked by the user")
    before = len(stage.world.sent_emails())
    _request_to(stage, people["bea"], "Ada", "Lunch on Monday?")
    mail_to(stage, "ada@example.com", before, about="Lunch on Monday")
    return "the sender got 403 and the notification went out by email (SES)"


def outbox_empty(stage) -> bool:
    sqs = stage.world.client("sqs")
    outbox = next(u for u in sqs.list_queues()["QueueUrls"] if u.endswith("-outbox"))
    counts = sqs.get_queue_attributes(QueueUrl=outbox, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"])
    return not any(int(value) for value in counts["Attributes"].values())


def dead_letter_replayed(stage, people):
    """A notification whose message ended in the dead-letter queue (as SQS's redrive puts it
    there) reaches Telegram after the documented replay."""
    from infra.rehearse import docs_blocks

    lam, sqs = stage.world.client("lambda"), stage.world.client("sqs")
    mapping = next(m for m in lam.list_event_source_mappings()["EventSourceMappings"] if ":sqs:" in m["EventSourceArn"])
    queues = {u.rsplit("/", 1)[1]: u for u in sqs.list_queues()["QueueUrls"]}
    outbox = next(u for n, u in queues.items() if n.endswith("-outbox"))
    dlq = next(u for n, u in queues.items() if n.endswith("-outbox-dlq"))
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    if not stage.sqs.settled():  # a receive begun before the change would take the message
        raise StepFailed("the SQS event source did not finish a pass over the mappings within 30 s")
    try:
        _request_to(stage, people["otto"] if "otto" in people else people["bea"], "Tess", "A walk on Sunday?")
        message = wait_for("the notification in the outbox queue", lambda: sqs.receive_message(
            QueueUrl=outbox, MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", [None])[0])
        sqs.send_message(QueueUrl=dlq, MessageBody=message["Body"])  # what the redrive policy does
        sqs.delete_message(QueueUrl=outbox, ReceiptHandle=message["ReceiptHandle"])
    finally:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    # The documented command (docs/DEPLOY.md, "Dead letters"): the replay runs in the manage
    # function, inside the stage's network; the operator has no database URL.
    from infra.rehearse.stage import BASE_DIR, WORK_DIR

    command = documented_command(f".venv/bin/zappa manage {stage.name}_manage replay_dead_letters ")
    result = docs_blocks.run_block(docs_blocks.Block("replay", command + "\n", 0), cwd=BASE_DIR,
                                   env=stage.operator_env(), answers={}, timeout=300,
                                   log_file=WORK_DIR / "logs" / "replay.log")
    if not result.ok:
        raise StepFailed(f"`{command}` failed ({result.reason}): {result.output[-600:]}")
    if "Replayed 1 messages" not in result.output:
        raise StepFailed(f"`{command}` did not replay the dead letter: {result.output[-600:]}")
    wait_for("the replayed notification in Tess's chat", lambda: any(
        "Sunday" in (m.get("text") or "") for m in stage.telegram.messages(people["tess_id"])), timeout=60)
    return "dead letter -> replay_dead_letters -> sender -> Tess's chat"


def documented_command(start: str) -> str:
    """The line of docs/DEPLOY.md that starts with `start` (outside the rehearsed blocks too):
    what the rehearsal runs is what an operator would copy."""
    from infra.rehearse.stage import BASE_DIR

    for line in (BASE_DIR / "docs" / "DEPLOY.md").read_text().splitlines():
        if line.strip().startswith(start):
            return line.strip()
    raise StepFailed(f"docs/DEPLOY.md has no command `{start}...`")


def doctor_clean(stage, people):
    from infra.rehearse import docs_blocks
    from infra.rehearse.stage import BASE_DIR, WORK_DIR

    blocks, _ = docs_blocks.blocks_of(BASE_DIR / "docs" / "DEPLOY.md")
    doctor = next((b for b in blocks if b.name == "doctor"), None)
    if doctor is None:
        raise StepFailed("docs/DEPLOY.md has no rehearsed `doctor` block")
    result = docs_blocks.run_block(doctor, cwd=BASE_DIR, env=stage.operator_env(), answers={}, timeout=300,
                                   log_file=WORK_DIR / "logs" / "doctor-at-the-end.log")
    if not result.ok:
        raise StepFailed(f"doctor is not clean after the journey: {result.output[-800:]}")
    return result.output.strip().splitlines()[-1] if result.output.strip() else ""


STEPS = [
    ("the site answers at its custom domain", site_answers),
    ("email sign-in by link (mail from SES)", email_link),
    ("email sign-in by code (mail from SES)", email_code),
    ("Telegram sign-in, signed redirect (legacy)", telegram_legacy),
    ("Telegram sign-in, OpenID Connect", telegram_oidc),
    ("a match request reaches Telegram (site -> SQS -> sender -> Telegram)", match_request),
    ("Accept pressed in the chat (Telegram -> webhook)", accept_in_chat),
    ("Telegram connected to an email account", connect_telegram),
    ("a 403 from Telegram falls back to email", forbidden_falls_back_to_email),
    ("a dead letter replayed (replay_dead_letters)", dead_letter_replayed),
    ("doctor is clean at the end", doctor_clean),
]


def walk(stage, steps) -> None:
    people: dict = {}
    for name, step in STEPS:
        steps.run(name, lambda step=step: step(stage, people))
