"""``parse_mode=HTML`` as Telegram applies it: markup becomes entities, text loses the tags.

Only what Telegram accepts is accepted; anything else is refused with Telegram's
"can't parse entities" error, so a template that forgets to escape ``<`` or ``&`` fails in
the sandbox the way it would fail in production. Entity offsets and lengths are in UTF-16
code units, as in the Bot API. ``Markdown``/``MarkdownV2`` are passed through unparsed
(documented limitation).
"""

from __future__ import annotations

import re
from html import unescape


class ParseError(ValueError):
    pass


_TAGS = {
    "b": "bold", "strong": "bold",
    "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",  # only with class="tg-spoiler"
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}

_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*?)?)\s*(/?)>|<|&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);|&")
_ATTR = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_NAMED_ENTITIES = {"lt", "gt", "amp", "quot"}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(source: str) -> tuple[str, list[dict]]:
    out: list[str] = []
    pos16 = 0  # current UTF-16 offset into the output text
    stack: list[tuple[str, int, dict]] = []
    entities: list[dict] = []
    i = 0

    def unsupported(kind: str, tag: str, idx: int) -> ParseError:
        # Telegram reports positions as byte offsets into the UTF-8 source.
        offset = len(source[:idx].encode())
        return ParseError(f"Can't parse entities: unsupported {kind} tag \"{tag}\" at byte offset {offset}")

    while True:
        m = _TOKEN.search(source, i)
        chunk = source[i : m.start() if m else len(source)]
        if chunk:
            out.append(chunk)
            pos16 += utf16_len(chunk)
        if not m:
            break
        i = m.end()
        tok = m.group(0)
        if tok == "<":
            raise unsupported("start", "", m.start())
        if tok.startswith("&"):
            name = m.group(5)
            if name is None or (not name.startswith("#") and name not in _NAMED_ENTITIES):
                # Telegram keeps an unknown/unterminated '&' literally.
                out.append(tok)
                pos16 += utf16_len(tok)
                continue
            ch = unescape(tok)
            out.append(ch)
            pos16 += utf16_len(ch)
            continue
        closing, tag, attrs, _selfclose = m.group(1), m.group(2).lower(), m.group(3) or "", m.group(4)
        if tag == "br" and not closing:
            raise unsupported("start", "br", m.start())
        if tag not in _TAGS:
            raise unsupported("end" if closing else "start", tag, m.start())
        if closing:
            if not stack or stack[-1][0] != tag:
                expected = stack[-1][0] if stack else ""
                offset = len(source[: m.start()].encode())
                raise ParseError(f"Can't parse entities: unmatched end tag at byte offset {offset}, "
                                 f"expected \"</{expected}>\", found \"</{tag}>\"")
            open_tag, start16, extra = stack.pop()
            length = pos16 - start16
            if length > 0 and extra.get("type"):
                ent = {"type": extra.pop("type"), "offset": start16, "length": length}
                ent.update(extra)
                entities.append(ent)
            continue
        extra: dict = {"type": _TAGS[tag]}
        attr = {a.group(1).lower(): a.group(2) or a.group(3) or a.group(4) or "" for a in _ATTR.finditer(attrs)}
        if tag == "a":
            href = unescape(attr.get("href", ""))
            if href.startswith("tg://user?id="):
                uid = int(href.split("=", 1)[1] or 0)
                extra = {"type": "text_mention", "user": {"id": uid, "is_bot": False, "first_name": ""}}
            elif href:
                extra["url"] = href
            else:
                extra = {"type": None}
        elif tag == "span":
            if attr.get("class") != "tg-spoiler":
                raise unsupported("start", "span", m.start())
        elif tag == "code" and stack and stack[-1][0] == "pre":
            lang = attr.get("class", "")
            if lang.startswith("language-"):
                stack[-1][2]["language"] = lang[len("language-") :]
            extra = {"type": None}
        elif tag == "blockquote" and "expandable" in attrs:
            extra["type"] = "expandable_blockquote"
        elif tag == "tg-emoji":
            extra["custom_emoji_id"] = attr.get("emoji-id", "")
        stack.append((tag, pos16, extra))
    if stack:
        raise ParseError(f"Can't parse entities: can't find end tag corresponding to start tag \"{stack[-1][0]}\"")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def apply_parse_mode(text: str, parse_mode: str | None, entities: list | None) -> tuple[str, list[dict]]:
    """Return (plain text, entities) the way Telegram stores a message."""
    if parse_mode and parse_mode.upper() == "HTML":
        return parse_html(text)
    return text, list(entities or [])


def command_entities(text: str) -> list[dict]:
    """``bot_command`` entities for ``/commands`` in a user's text, as Telegram adds them."""
    ents = []
    for m in re.finditer(r"(?<![\w/])/[a-zA-Z0-9_]{1,32}(?:@[a-zA-Z0-9_]{5,32})?", text):
        ents.append({"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group(0))})
    return ents
