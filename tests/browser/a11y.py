"""
Accessibility basics, measured in the page itself with small scripts (no CDN, no packages).

Each function returns what is wrong (an empty list when all is well), so a test can assert
on it and show every problem at once:

  unlabeled_controls(page)    form controls with no accessible name
  contrast_failures(page)     visible text below WCAG AA contrast (4.5:1; 3:1 for large text)
  tab_stops(page, n)          what Tab focuses, in order, from the top of the page
  unfocusable_outline(page)   Tab-focused controls with no visible focus indicator
  horizontal_overflow(page)   elements wider than the viewport (phone width)
  structure_problems(page)    no lang, no title, not exactly one h1, no main landmark
"""

from __future__ import annotations

UNLABELED_JS = """
() => {
  const skip = new Set(['hidden', 'submit', 'button', 'reset', 'image']);
  const out = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.tagName === 'INPUT' && skip.has((el.type || '').toLowerCase())) continue;
    const labelled = (el.labels && [...el.labels].some(l => l.textContent.trim()))
      || (el.getAttribute('aria-label') || '').trim()
      || (el.getAttribute('aria-labelledby') || '').split(/\\s+/).some(
           id => id && document.getElementById(id) && document.getElementById(id).textContent.trim())
      || (el.getAttribute('title') || '').trim();
    if (!labelled) out.push(el.outerHTML.slice(0, 160));
  }
  return out;
}
"""

# Contrast per WCAG 2.x: relative luminance of sRGB colours, (L1 + 0.05) / (L2 + 0.05).
# The background is the nearest ancestor's non-transparent background colour, with
# translucent layers blended over what is below them (white at the bottom).
CONTRAST_JS = """
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a), a: 1});
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const background = (el) => {
    const layers = [];
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const bg = parse(getComputedStyle(n).backgroundColor);
      if (bg && bg.a > 0) { layers.push(bg); if (bg.a >= 1) break; }
    }
    let colour = {r: 255, g: 255, b: 255, a: 1};
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const visible = (el) => {
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || s.display === 'none' || Number(s.opacity) === 0) return false;
    const r = el.getBoundingClientRect();
    // Off-screen until focused (the skip link) is checked when it is focused, not here.
    return r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0;
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (['SCRIPT', 'STYLE', 'NOSCRIPT', 'OPTION', 'SVG'].includes(el.tagName)) continue;
    const ownText = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())
      || (el.tagName === 'INPUT' && ['submit', 'button'].includes(el.type) && el.value);
    if (!ownText || !visible(el)) continue;
    const s = getComputedStyle(el);
    const fg0 = parse(s.color);
    if (!fg0) continue;
    const bg = background(el);
    const fg = over(fg0, bg);
    const l1 = lum(fg), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    const needed = large ? 3 : 4.5;
    if (ratio < needed) {
      out.push(`${ratio.toFixed(2)}:1 < ${needed}:1 for <${el.tagName.toLowerCase()}` +
        `${el.className ? ' class="' + el.className + '"' : ''}> "${el.textContent.trim().slice(0, 40)}"` +
        ` (${s.color} on rgb(${Math.round(bg.r)}, ${Math.round(bg.g)}, ${Math.round(bg.b)}))`);
    }
  }
  return out;
}
"""

FOCUSED_JS = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const field = ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) && !['submit', 'button'].includes(el.type);
  const label = field
    ? ((el.labels && el.labels[0] && el.labels[0].innerText) || el.getAttribute('aria-label') || '')
    : (el.innerText || el.value || el.getAttribute('aria-label') || '');
  const text = label.trim().replace(/\\s+/g, ' ');
  const s = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  return {
    tag: el.tagName.toLowerCase(), type: el.type || '', id: el.id || '', name: el.name || '',
    text: text.slice(0, 60), href: el.getAttribute('href') || '',
    outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
    shadow: s.boxShadow !== 'none',
    onscreen: r.right > 0 && r.bottom > 0 && r.left < innerWidth,
    order: [...document.querySelectorAll('*')].indexOf(el),
  };
}
"""

OVERFLOW_JS = """
() => {
  const root = document.documentElement;
  if (root.scrollWidth <= root.clientWidth) return [];
  const out = [`page is ${root.scrollWidth}px wide in a ${root.clientWidth}px viewport`];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right > root.clientWidth + 1 && r.width > 0) {
      out.push(`<${el.tagName.toLowerCase()}${el.className ? ' class="' + el.className + '"' : ''}> ends at ${Math.round(r.right)}px`);
      if (out.length > 8) break;
    }
  }
  return out;
}
"""

STRUCTURE_JS = """
() => {
  const out = [];
  if (!document.documentElement.lang) out.push('<html> has no lang');
  if (!document.title.trim()) out.push('no <title>');
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) out.push(`${h1} <h1> elements (want exactly one)`);
  if (!document.querySelector('main')) out.push('no <main> landmark');
  for (const el of document.querySelectorAll('[tabindex]')) {
    if (Number(el.getAttribute('tabindex')) > 0) out.push(`positive tabindex breaks the Tab order: ${el.outerHTML.slice(0, 120)}`);
  }
  for (const img of document.querySelectorAll('img:not([alt])')) out.push(`<img> without alt: ${img.src}`);
  for (const b of document.querySelectorAll('button, a[href]')) {
    // textContent, not innerText: a button inside a closed <details> renders no text yet.
    const name = (b.textContent || b.getAttribute('aria-label') || b.title || '').trim();
    if (!name && !b.querySelector('img[alt]:not([alt=""])')) out.push(`${b.tagName.toLowerCase()} without a name: ${b.outerHTML.slice(0, 120)}`);
  }
  return out;
}
"""


def unlabeled_controls(page) -> list[str]:
    return page.evaluate(UNLABELED_JS)


def contrast_failures(page) -> list[str]:
    return page.evaluate(CONTRAST_JS)


def focused(page) -> dict | None:
    return page.evaluate(FOCUSED_JS)


def tab_stops(page, count: int = 40) -> list[dict]:
    """Press Tab from the top of the page until focus leaves it or `count` stops; return them."""
    # Start where a person starts: at the top of the document. Blurring an autofocused field
    # is not enough (Chromium keeps the blurred element as the starting point of Tab), so
    # focus the body for a moment instead.
    page.evaluate(
        """() => {
          const body = document.body;
          body.setAttribute('tabindex', '-1');
          body.focus();
          body.removeAttribute('tabindex');
          window.scrollTo(0, 0);
        }"""
    )
    stops: list[dict] = []
    for _ in range(count):
        page.keyboard.press("Tab")
        now = focused(page)
        if now is None or (stops and now == stops[0]):
            break
        stops.append(now)
    return stops


def tab_order_problems(stops: list[dict]) -> list[str]:
    """The skip link comes first; focus follows the document (no tabindex jumps); every stop
    shows a focus indicator and is on screen."""
    problems = []
    if not stops:
        return ["Tab reaches nothing"]
    first = stops[0]
    if not (first["tag"] == "a" and first["href"] == "#main"):
        problems.append(f"the first Tab stop is {first}, not the skip link")
    elif not first["onscreen"]:
        problems.append("the skip link stays off screen when focused")
    orders = [s["order"] for s in stops]
    if orders != sorted(orders):
        problems.append("Tab order does not follow the page: " + ", ".join(describe(s) for s in stops))
    for s in stops:
        if not (s["outline"] or s["shadow"]):
            problems.append(f"no visible focus indicator on {describe(s)}")
    return problems


def describe(stop: dict) -> str:
    label = stop["text"] or stop["name"] or stop["href"]
    where = f" #{stop['id']}" if stop["id"] else ""
    return f"{stop['tag']}{'[' + stop['type'] + ']' if stop['type'] else ''} {label!r}{where}"


def horizontal_overflow(page) -> list[str]:
    return page.evaluate(OVERFLOW_JS)


def structure_problems(page) -> list[str]:
    return page.evaluate(STRUCTURE_JS)


def audit(page, *, tab: bool = True) -> list[str]:
    """Every basic check on the page as it is now (desktop width); problems, prefixed."""
    problems = [f"unlabeled control: {c}" for c in unlabeled_controls(page)]
    problems += [f"contrast: {c}" for c in contrast_failures(page)]
    problems += [f"structure: {c}" for c in structure_problems(page)]
    if tab:
        problems += [f"keyboard: {c}" for c in tab_order_problems(tab_stops(page))]
    return problems
