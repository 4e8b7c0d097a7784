"""parse_mode=HTML as Telegram applies it: what it accepts, what it refuses and how it says so."""

from __future__ import annotations

import httpx
import pytest

from infra.local.telegram_sandbox.formatting import parse_html, to_html
from infra.local.telegram_sandbox.testing import DEFAULT_BOT_TOKEN

USER = 717171


@pytest.fixture
def send(telegram_sandbox):
    telegram_sandbox.add_user(USER, "Ann")

    def send(text: str, **params) -> dict:
        body = {"chat_id": USER, "text": text, "parse_mode": "HTML", **params}
        return httpx.post(f"{telegram_sandbox.api_base}{DEFAULT_BOT_TOKEN}/sendMessage", json=body).json()

    return send


@pytest.mark.parametrize("source, description", [
    ("a < b", 'Unsupported start tag "" at byte offset 2'),
    ("<x>y</x>", 'Unsupported start tag "x" at byte offset 0'),
    ("é<br>", 'Unsupported start tag "br" at byte offset 2'),  # byte offsets, not characters
    ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ("<B>x</B>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</B>"'),
    ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b", "Unclosed start tag at byte offset 0"),
    ("<b>x</b", "Unclosed end tag at byte offset 4"),
    ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ("<b a=x!y>x</b>", "Unexpected end of name token at byte offset 6"),
    ('<tg-emoji emoji-id="nope">x</tg-emoji>', "Invalid custom emoji identifier specified"),
])
def test_what_telegram_refuses(send, source, description):
    answer = send(source)
    assert answer == {"ok": False, "error_code": 400,
                      "description": f"Bad Request: can't parse entities: {description}"}


@pytest.mark.parametrize("source, text, entities", [
    ("<b>bold</b> <strong>too</strong>", "bold too",
     [{"type": "bold", "offset": 0, "length": 4}, {"type": "bold", "offset": 5, "length": 3}]),
    ("&lt;&gt;&amp;&quot; &#60;&#x3e; &lt", "<>&\" <> <", []),  # the ; is optional
    ("&nbsp;&apos;&copy; AT&T &#0; &#X41;", "&nbsp;&apos;&copy; AT&T &#0; &#X41;", []),  # kept as typed
    ('<a href="https://example.com/?a=1&amp;b=2">here</a>', "here",
     [{"type": "text_link", "offset": 0, "length": 4, "url": "https://example.com/?a=1&b=2"}]),
    ('<a href="javascript:alert(1)">x</a>', "x", []),  # no link Telegram would refuse to open
    ('<a href="tg://user?id=42">Ann</a>', "Ann",
     [{"type": "text_mention", "offset": 0, "length": 3, "user": {"id": 42, "is_bot": False, "first_name": ""}}]),
    ("<b class=x id='y' data>x</b>", "x", [{"type": "bold", "offset": 0, "length": 1}]),  # other attributes skipped
    ('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', "st",
     [{"type": "spoiler", "offset": 0, "length": 1}, {"type": "spoiler", "offset": 1, "length": 1}]),
    ('<pre><code class="language-python">x = 1</code></pre>', "x = 1",
     [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]),
    ("<code><b>x</b></code>", "x", [{"type": "code", "offset": 0, "length": 1}]),  # nothing inside code
    ("<b>x</>", "x", [{"type": "bold", "offset": 0, "length": 1}]),
    ("<blockquote expandable>q</blockquote>", "q", [{"type": "expandable_blockquote", "offset": 0, "length": 1}]),
    ("🎉<i>é</i>", "🎉é", [{"type": "italic", "offset": 2, "length": 1}]),  # UTF-16 offsets
    ("<b></b>x", "x", []),  # an empty entity is dropped
    ("  <b>x</b> \n ", "  x", [{"type": "bold", "offset": 2, "length": 1}]),  # trailing space trimmed
])
def test_what_telegram_accepts(send, source, text, entities):
    answer = send(source)
    assert answer["ok"], answer
    assert answer["result"]["text"] == text
    assert answer["result"].get("entities", []) == entities


def test_the_4096_limit_is_after_parsing(send):
    assert send("&lt;" * 4096)["ok"]  # 16384 characters sent, 4096 after parsing
    assert send("&lt;" * 4097) == {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
    assert send("<b></b>") == {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}


@pytest.mark.parametrize("data, ok", [("x" * 64, True), ("é" * 32, True), ("x" * 65, False), ("é" * 33, False), ("", False)])
def test_callback_data_is_1_to_64_bytes(send, data, ok):
    answer = send("pick", reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": data}]]})
    assert answer["ok"] is ok
    if not ok:
        assert answer["description"] == "Bad Request: BUTTON_DATA_INVALID"


def test_the_chat_page_renders_the_entities_and_escapes_the_rest(send, telegram_sandbox):
    assert send('<b>Title</b>\n\n&lt;script&gt; &amp; <a href="https://example.com/x">the link</a>')["ok"]
    page = httpx.get(f"{telegram_sandbox.url}/chat/{USER}").text
    assert "<b>Title</b>" in page
    assert "&lt;script&gt; &amp; " in page and "<script>" not in page.split("</header>")[1].split("<script>")[0]
    assert '<a href="https://example.com/x" rel="noopener" target="_blank">the link</a>' in page


def test_rendering_overlapping_entities_from_the_entities_parameter():
    html = to_html("abcdef", [{"type": "bold", "offset": 0, "length": 4}, {"type": "italic", "offset": 2, "length": 4}])
    assert html == "<b>ab</b><b><i>cd</i></b><i>ef</i>"
    assert parse_html("<b>ab<i>cd</i></b><i>ef</i>")[0] == "abcdef"
