"""``parse_mode=HTML`` as Telegram applies it, and messages rendered back to HTML for the pages.

The parser follows Telegram's own (TDLib's ``parse_html``, which the Bot API runs) rule by
rule, so a template that forgets to escape fails here exactly as it would in production:

- Tags: ``b strong i em u ins s strike del a code pre blockquote span tg-spoiler tg-emoji``;
  anything else is ``Unsupported start tag "x" at byte offset N`` (so is a stray ``<``, whose
  tag name is empty). Attributes used: ``a href``, ``code class="language-…"``,
  ``span class="tg-spoiler"`` (required on span), ``tg-emoji emoji-id``, ``blockquote
  expandable``; others are skipped. Values are quoted (entities decoded) or a name token of
  letters, digits, ``.`` and ``-``.
- Character references: only ``&lt; &gt; &amp; &quot;`` and numeric ones (``&#38; &#x26;``);
  the ``;`` is optional. Anything else starting with ``&`` stays as typed.
- An end tag must close the innermost open tag (case-sensitively: ``<B>x</B>`` fails, as in
  Telegram); ``</>`` closes whatever is open. Unclosed tags at the end are an error.
- An entity is made only when it covers text; an ``a`` without a usable URL makes none, one
  with ``tg://user?id=N`` makes a text mention. Entities inside ``code``/``pre`` and nested
  blockquotes are dropped, as Telegram drops them.
- Afterwards trailing whitespace is trimmed (and leading whitespace when there are no
  entities); offsets and lengths are in UTF-16 code units, as in the Bot API.

Errors read as the Bot API words them: ``can't parse entities: <TDLib's message>``.
``Markdown``/``MarkdownV2`` are passed through unparsed (documented limitation).
"""

from __future__ import annotations

import re
from html import escape
from urllib.parse import urlsplit

from markupsafe import Markup


class ParseError(ValueError):
    pass


_TAGS = {"a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler", "tg-emoji", "span",
         "pre", "code", "blockquote"}
_SIMPLE = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
           "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "tg-spoiler": "spoiler"}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.-]*")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode_reference(src: str, pos: int) -> tuple[str, int] | None:
    """The character a reference at ``src[pos] == "&"`` stands for and where it ends."""
    end = pos + 1
    if src.startswith("#", end):
        end += 1
        hexadecimal = src.startswith("x", end)
        if hexadecimal:
            end += 1
        digits = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        start = end
        while end < len(src) and src[end] in digits:
            end += 1
        if end == start:
            return None
        code = int(src[start:end], 16 if hexadecimal else 10)
        if code == 0 or code >= 0x10FFFF or end - pos >= 10 or 0xD800 <= code <= 0xDFFF:
            return None
        char = chr(code)
    else:
        while end < len(src) and src[end].isascii() and src[end].isalpha():
            end += 1
        char = _NAMED.get(src[pos + 1:end])
        if char is None:
            return None
    if src.startswith(";", end):
        end += 1
    return char, end


def _link(url: str) -> dict | None:
    """The entity fields an ``a`` tag's URL gives, or None when Telegram would make no link."""
    url = url.strip()
    mention = re.fullmatch(r"tg://user\?id=(\d{1,19})", url)
    if mention:
        return {"type": "text_mention", "user": {"id": int(mention.group(1)), "is_bot": False, "first_name": ""}}
    if not url or any(ch.isspace() for ch in url):
        return None
    if "://" not in url and not url.startswith("tg:"):
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme.lower() in ("http", "https", "ftp", "tonsite") and "." in (parts.hostname or ""):
        return {"type": "text_link", "url": url}
    if parts.scheme.lower() in ("tg", "ton"):
        return {"type": "text_link", "url": url}
    return None


class _Parser:
    def __init__(self, src: str):
        self.src = src
        self.i = 0
        self.out: list[str] = []
        self.chars = 0  # len("".join(self.out))
        self.pos16 = 0
        self.open: list[dict] = []
        self.entities: list[dict] = []

    def error(self, message: str) -> ParseError:
        return ParseError(f"can't parse entities: {message}")

    def byte_offset(self, index: int) -> int:
        return len(self.src[:index].encode("utf-8", "surrogatepass"))

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.chars += len(text)
        self.pos16 += utf16_len(text)

    def at(self, index: int) -> str:
        return self.src[index] if index < len(self.src) else ""

    def run(self) -> tuple[str, list[dict]]:
        src = self.src
        while self.i < len(src):
            ch = src[self.i]
            if ch == "&":
                decoded = _decode_reference(src, self.i)
                if decoded:
                    self.emit(decoded[0])
                    self.i = decoded[1]
                    continue
            if ch != "<":
                self.emit(ch)
                self.i += 1
                continue
            if self.at(self.i + 1) == "/":
                self.end_tag()
            else:
                self.start_tag()
        if self.open:
            raise self.error(f'Can\'t find end tag corresponding to start tag "{self.open[-1]["tag"]}"')
        return "".join(self.out), self.entities

    def start_tag(self) -> None:
        src, begin = self.src, self.i
        i = begin + 1
        while i < len(src) and not src[i].isspace() and src[i] != ">":
            i += 1
        if i >= len(src):
            raise self.error(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        tag = src[begin + 1:i].lower()
        if tag not in _TAGS:
            raise self.error(f'Unsupported start tag "{tag}" at byte offset {self.byte_offset(begin)}')
        argument = ""
        expandable = False
        while self.at(i) != ">":
            while i < len(src) and src[i].isspace():
                i += 1
            if self.at(i) == ">":
                break
            name_start = i
            while i < len(src) and not src[i].isspace() and src[i] not in "=>/\"'":
                i += 1
            name = src[name_start:i]
            if not name:
                raise self.error(f'Empty attribute name in the tag "{tag}" at byte offset {self.byte_offset(begin)}')
            while i < len(src) and src[i].isspace():
                i += 1
            if self.at(i) != "=":
                if i >= len(src):
                    raise self.error(f'Unclosed start tag "{tag}" at byte offset {self.byte_offset(begin)}')
                if tag == "blockquote" and name == "expandable":
                    expandable = True
                continue  # an attribute without a value
            i += 1
            while i < len(src) and src[i].isspace():
                i += 1
            if i >= len(src):
                raise self.error(f'Unclosed start tag "{tag}" at byte offset {self.byte_offset(begin)}')
            if src[i] in "\"'":
                quote, i = src[i], i + 1
                value: list[str] = []
                while i < len(src) and src[i] != quote:
                    decoded = _decode_reference(src, i) if src[i] == "&" else None
                    if decoded:
                        value.append(decoded[0])
                        i = decoded[1]
                    else:
                        value.append(src[i])
                        i += 1
                if i < len(src):
                    i += 1  # the closing quote
                text_value = "".join(value)
            else:
                token = _NAME_TOKEN.match(src, i)
                text_value = token.group(0).lower()
                i = token.end()
                if i < len(src) and not src[i].isspace() and src[i] != ">":
                    raise self.error(f"Unexpected end of name token at byte offset {self.byte_offset(i)}")
            if i >= len(src):
                raise self.error(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
            if tag == "a" and name == "href":
                argument = text_value
            elif tag == "code" and name == "class" and text_value.startswith("language-"):
                argument = text_value[len("language-"):]
            elif tag == "span" and name == "class" and text_value.startswith("tg-"):
                argument = text_value[len("tg-"):]
            elif tag == "tg-emoji" and name == "emoji-id":
                argument = text_value
            elif tag == "blockquote" and name == "expandable":
                expandable = True
        if tag == "span" and argument != "spoiler":
            raise self.error(f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset(begin)}')
        self.open.append({"tag": tag, "argument": argument, "expandable": expandable, "offset": self.pos16,
                          "text_start": self.chars})
        self.i = i + 1

    def end_tag(self) -> None:
        src, begin = self.src, self.i
        if not self.open:
            raise self.error(f"Unexpected end tag at byte offset {self.byte_offset(begin)}")
        i = begin + 2
        while i < len(src) and not src[i].isspace() and src[i] != ">":
            i += 1
        if i >= len(src):
            raise self.error(f"Unclosed end tag at byte offset {self.byte_offset(begin)}")
        name = src[begin + 2:i]
        while i < len(src) and src[i].isspace():
            i += 1
        if self.at(i) != ">":
            raise self.error(f"Unclosed end tag at byte offset {self.byte_offset(begin)}")
        top = self.open[-1]
        if name and name != top["tag"]:
            raise self.error(f'Unmatched end tag at byte offset {self.byte_offset(begin)}, '
                             f'expected "</{top["tag"]}>", found "</{name}>"')
        self.i = i + 1
        self.open.pop()
        if self.pos16 > top["offset"]:
            self.close(top)

    def close(self, top: dict) -> None:
        tag, offset, length = top["tag"], top["offset"], self.pos16 - top["offset"]
        entity: dict | None
        if tag in _SIMPLE:
            entity = {"type": _SIMPLE[tag]}
        elif tag == "span":
            entity = {"type": "spoiler"}
        elif tag == "tg-emoji":
            if not re.fullmatch(r"[1-9][0-9]{0,18}", top["argument"]):
                raise self.error("Invalid custom emoji identifier specified")
            entity = {"type": "custom_emoji", "custom_emoji_id": top["argument"]}
        elif tag == "a":
            url = top["argument"] or "".join(self.out)[top["text_start"]:]
            entity = _link(url)
        elif tag == "blockquote":
            entity = {"type": "expandable_blockquote" if top["expandable"] else "blockquote"}
        elif tag == "code":
            # <pre><code class="language-x">: the code gives the pre its language.
            entity = {"type": "code"}
            if top["argument"]:
                entity["language"] = top["argument"]
        else:  # pre
            last = self.entities[-1] if self.entities else None
            if last and last["type"] == "code" and last["offset"] == offset and last["length"] == length:
                self.entities.pop()
                entity = {"type": "pre", **({"language": last["language"]} if "language" in last else {})}
            else:
                entity = {"type": "pre"}
        if entity is not None:
            entity.update(offset=offset, length=length)
            self.entities.append(entity)


def _drop_forbidden_nesting(entities: list[dict]) -> list[dict]:
    """Telegram keeps nothing inside code and pre, and no blockquote inside another."""
    kept: list[dict] = []
    # Outer first: on the same range, the entity closed later (listed later) is the outer one.
    order = sorted(range(len(entities)), key=lambda n: (entities[n]["offset"], -entities[n]["length"], -n))
    for e in (entities[n] for n in order):
        inside = [k for k in kept if k["offset"] <= e["offset"] and e["offset"] + e["length"] <= k["offset"] + k["length"]]
        if any(k["type"] in ("code", "pre") for k in inside):
            continue
        if "blockquote" in e["type"] and any("blockquote" in k["type"] for k in inside):
            continue
        kept.append(e)
    return kept


def _trim(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    stripped = text.rstrip()
    if len(stripped) != len(text):
        end16 = utf16_len(stripped)
        clipped = []
        for e in entities:
            if e["offset"] + e["length"] > end16:
                e = {**e, "length": end16 - e["offset"]}
            if e["length"] > 0:
                clipped.append(e)
        text, entities = stripped, clipped
    if not entities:
        text = text.lstrip()
    return text, entities


def parse_html(source: str) -> tuple[str, list[dict]]:
    text, entities = _Parser(source).run()
    entities = _drop_forbidden_nesting(entities)
    for e in entities:
        if e["type"] == "code":
            e.pop("language", None)  # only a pre carries a language
    text, entities = _trim(text, entities)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return text, entities


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


# ----- rendering a message for the chat pages ----------------------------------------------------

_OPEN = {"bold": "<b>", "italic": "<i>", "underline": "<u>", "strikethrough": "<s>",
         "spoiler": '<span class="spoiler">', "code": "<code>", "pre": "<pre>",
         "blockquote": "<blockquote>", "expandable_blockquote": '<blockquote class="expandable">',
         "bot_command": '<span class="command">', "custom_emoji": '<span class="emoji">'}
_CLOSE = {"bold": "</b>", "italic": "</i>", "underline": "</u>", "strikethrough": "</s>", "code": "</code>",
          "pre": "</pre>", "blockquote": "</blockquote>", "expandable_blockquote": "</blockquote>"}


def _wrap(entity: dict) -> tuple[str, str]:
    kind = entity.get("type")
    if kind == "text_link":
        url = str(entity.get("url", ""))
        if re.match(r"^(https?|tg|ton|tonsite|ftp)://", url, re.I):
            return f'<a href="{escape(url)}" rel="noopener" target="_blank">', "</a>"
        return "", ""
    if kind == "text_mention":
        return f'<a class="mention" title="user {int(entity["user"]["id"])}">', "</a>"
    if kind in _OPEN:
        return _OPEN[kind], _CLOSE.get(kind, "</span>")
    return "", ""


def to_html(text: str, entities: list | None) -> Markup:
    """A message's text with its entities as HTML (escaped; for the sandbox's chat pages).
    Overlapping entities are cut at every boundary, so any entity list renders."""
    if not text:
        return Markup("")
    units = text.encode("utf-16-le")
    usable = [e for e in (entities or []) if isinstance(e, dict) and isinstance(e.get("offset"), int)
              and isinstance(e.get("length"), int) and e["length"] > 0]
    cuts = sorted({0, len(units) // 2, *(e["offset"] for e in usable), *(e["offset"] + e["length"] for e in usable)})
    pieces = []
    for start, end in zip(cuts, cuts[1:]):
        chunk = units[start * 2:end * 2].decode("utf-16-le", "replace")
        html = escape(chunk, quote=False)
        active = [e for e in sorted(usable, key=lambda e: (e["offset"], -e["length"]))
                  if e["offset"] <= start and end <= e["offset"] + e["length"]]
        for entity in reversed(active):
            opening, closing = _wrap(entity)
            html = f"{opening}{html}{closing}"
        pieces.append(html)
    return Markup("".join(pieces))
