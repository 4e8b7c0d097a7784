"""HTTP routes. Thin: each turns a request into a call on the ``Sandbox`` and back."""

from __future__ import annotations

import json
import random
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Flask, Response, abort, jsonify, redirect, render_template, request, url_for

from . import oidc
from .botapi import call_api
from .formatting import to_html
from .state import Sandbox

LEGACY_PARAMS = ("bot_id", "origin", "request_access", "return_to", "embed", "lang")


def _base() -> str:
    return request.host_url.rstrip("/")


def _with_query(url: str, **params) -> str:
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def create_app(sb: Sandbox) -> Flask:
    app = Flask(__name__)
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False
    app.json.compact = True
    app.extensions["telegram_sandbox"] = sb

    @app.context_processor
    def _globals():
        return {"default_bot_id": sb.default_bot_id}

    # A message's text with its entities, as a Telegram client shows it (bold, links...).
    app.jinja_env.filters["entities"] = to_html

    # ----- Bot API -------------------------------------------------------------------------

    @app.route("/bot<token>/<method>", methods=["GET", "POST"])
    def bot_api(token, method):
        params: dict = dict(request.args)
        if request.method == "POST":
            if request.is_json:
                body = request.get_json(silent=True)
                if isinstance(body, dict):
                    params.update(body)
            else:
                params.update(request.form.to_dict())
                if request.files:
                    params.update({k: "<file>" for k in request.files})
        status, body = call_api(sb, token, method, params)
        if isinstance(body, bytes):
            return Response(body, status=status, content_type="text/html")
        return Response(json.dumps(body), status=status, content_type="application/json")

    # ----- sign-in (legacy and OIDC share /auth, as on oauth.telegram.org) ---------------------

    def _auth_context():
        args = request.values
        if args.get("client_id") or args.get("response_type"):
            bot = oidc.validate_auth_request(sb, args)
            return "oidc", bot
        try:
            bot = sb.bot(int(args.get("bot_id", "")))
        except (KeyError, ValueError):
            abort(Response(render_template("error.html", message="Bot not found: unknown or missing bot_id."), 400))
        if not args.get("return_to"):
            abort(Response(render_template("error.html", message="return_to is required."), 400))
        return "legacy", bot

    @app.route("/auth", methods=["GET", "POST"])
    def auth():
        try:
            flow, bot = _auth_context()
        except oidc.AuthRequestError as e:
            if e.redirect:
                return redirect(_with_query(request.values["redirect_uri"], error=e.error,
                                            error_description=e.description,
                                            state=request.values.get("state", "")))
            return render_template("error.html", message=f"{e.error}: {e.description}"), 400
        keep = {k: v for k, v in request.values.items()
                if k not in ("user_id", "action", "new_id", "first_name", "last_name",
                             "username", "phone_number")}
        if request.method == "GET":
            with sb.lock:
                users = sorted(sb.users.values(), key=lambda u: u.id)
            scopes = request.values.get("scope", "").split()
            return render_template("auth.html", flow=flow, bot=bot.config, users=users,
                                   params=keep, scopes=scopes,
                                   write=(request.values.get("request_access") == "write"
                                          or "telegram:bot_access" in scopes))
        # POST: the fake user decided.
        form = request.form
        if form.get("action") == "cancel":
            if flow == "oidc":
                return redirect(_with_query(form["redirect_uri"], error="access_denied",
                                            state=form.get("state", "")))
            return redirect(form["return_to"].split("#", 1)[0] + "#tgAuthResult=false")
        if form.get("user_id") and form.get("user_id") != "new":
            user = sb.user(int(form["user_id"]))
        else:
            if not form.get("first_name"):
                return render_template("error.html", message="A new user needs a first name."), 400
            uid = int(form.get("new_id") or _free_user_id(sb))
            user = sb.add_user(uid, form["first_name"], form.get("last_name") or None,
                               form.get("username") or None,
                               phone_number=form.get("phone_number") or None,
                               started=False, bot_id=bot.id)
        if flow == "legacy":
            if form.get("request_access") == "write":
                sb.allow_write(user.id, bot.id)
            result = sb.legacy_auth_result(bot.id, user)
            return redirect(form["return_to"].split("#", 1)[0] + "#tgAuthResult=" + result)
        code = oidc.issue_code(sb, bot, form, user.id)
        return redirect(_with_query(form["redirect_uri"], code=code, state=form["state"]))

    @app.get("/.well-known/openid-configuration")
    def openid_configuration():
        return jsonify(oidc.discovery(sb, _base()))

    @app.get("/.well-known/jwks.json")
    def jwks():
        return jsonify(sb.jwks())

    @app.post("/token")
    def token():
        status, body, headers = oidc.token(sb, request.headers, request.form, _base())
        resp = jsonify(body)
        resp.status_code = status
        resp.headers.update(headers)
        return resp

    # ----- fake users' pages -------------------------------------------------------------------

    def _bot_arg():
        try:
            return sb.bot(request.values.get("bot") or None)
        except (KeyError, ValueError):
            abort(404)

    @app.get("/")
    def index():
        with sb.lock:
            users = sorted(sb.users.values(), key=lambda u: u.id)
            groups = sorted(sb.groups.values(), key=lambda g: g.id)
            bots = [(b.config, b.webhook.url, len(b.pending)) for b in sb.bots.values()]
        return render_template("index.html", users=users, groups=groups, bots=bots)

    @app.post("/users")
    def create_user():
        f = request.form
        if not f.get("first_name"):
            return render_template("error.html", message="A new user needs a first name."), 400
        uid = int(f.get("id") or _free_user_id(sb))
        sb.add_user(uid, f["first_name"], f.get("last_name") or None, f.get("username") or None,
                    phone_number=f.get("phone_number") or None, started=False)
        return redirect(url_for("chat", chat_id=uid))

    def _chat_context(chat_id: int):
        bot = _bot_arg()
        with sb.lock:
            if chat_id < 0:
                if chat_id not in sb.groups:
                    abort(404)
                title, user, link = sb.groups[chat_id].title, None, None
            else:
                if chat_id not in sb.users:
                    abort(404)
                user = sb.users[chat_id]
                title, link = user.display_name, bot.links.get(chat_id)
            messages = [sb.shown_in_chat(bot, chat_id, m)
                        for m in json.loads(json.dumps(list(bot.chats.get(chat_id, {}).values())))]
            version = bot.chat_version.get(chat_id, 0)
            # The bot's answer to this person's latest button press, shown like Telegram's
            # toast (or its alert, with show_alert); None while the spinner still turns.
            answered = [q for q in bot.callback_queries.values() if q["user_id"] == chat_id and q["answer"]]
            press = max(answered, key=lambda q: q["time"], default=None)
        return dict(bot=bot.config, chat_id=chat_id, title=title, user=user, link=link,
                    messages=messages, version=version, press_answer=press and press["answer"])

    @app.get("/chat/<int(signed=True):chat_id>")
    def chat(chat_id):
        return render_template("chat.html", **_chat_context(chat_id))

    @app.get("/chat/<int(signed=True):chat_id>/messages.json")
    def chat_messages(chat_id):
        ctx = _chat_context(chat_id)
        return jsonify(version=ctx["version"], messages=ctx["messages"],
                       html=render_template("_messages.html", **ctx))

    def _back(chat_id):
        bot = _bot_arg()
        extra = {} if bot.id == sb.default_bot_id else {"bot": bot.id}
        return redirect(url_for("chat", chat_id=chat_id, **extra))

    @app.post("/chat/<int:chat_id>/send")
    def chat_send(chat_id):
        text = request.form.get("text", "")
        if text.strip():
            try:
                sb.user_sends(chat_id, text, _bot_arg().id)
            except ValueError as e:
                return render_template("error.html", message=str(e)), 409
        return _back(chat_id)

    @app.post("/chat/<int:chat_id>/press")
    def chat_press(chat_id):
        try:
            sb.user_presses(chat_id, int(request.form["message_id"]), request.form["data"],
                            _bot_arg().id)
        except (ValueError, KeyError) as e:
            return render_template("error.html", message=str(e)), 400
        return _back(chat_id)

    @app.post("/chat/<int:chat_id>/start")
    def chat_start(chat_id):
        sb.user_starts(chat_id, request.form.get("payload") or None, _bot_arg().id)
        return _back(chat_id)

    @app.post("/chat/<int:chat_id>/block")
    def chat_block(chat_id):
        sb.block(chat_id, _bot_arg().id)
        return _back(chat_id)

    @app.post("/chat/<int:chat_id>/unblock")
    def chat_unblock(chat_id):
        sb.unblock(chat_id, _bot_arg().id)
        return _back(chat_id)

    # ----- record and control --------------------------------------------------------------

    @app.get("/_sandbox/record")
    def record():
        return Response(json.dumps(sb.snapshot(), default=list), content_type="application/json")

    @app.post("/_sandbox/reset")
    def reset():
        sb.reset()
        return jsonify(ok=True)

    # ----- pages of their own modules (contract C5) ------------------------------------------
    # A new page lives in its own module with `register(app, sb)` (routes, a Blueprint...)
    # and reads state through Sandbox's public methods; add it here with one line each:
    # `from . import deep_link; deep_link.register(app, sb)`.
    from . import login_url; login_url.register(app, sb)  # noqa: E702 - login_url buttons (one-tap)
    from . import mini_app; mini_app.register(app, sb)  # noqa: E702 - menu button + Mini App launcher (one-tap)
    from . import deep_link; deep_link.register(app, sb)  # noqa: E702 - t.me/<bot>?start= links (ux)

    return app


def _free_user_id(sb: Sandbox) -> int:
    with sb.lock:
        while True:
            uid = random.randint(100_000_000, 999_999_999)
            if uid not in sb.users:
                return uid
