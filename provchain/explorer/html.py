"""A tiny, escape-by-default template helper (string.Template) and the formatting the pages share.

Templates live in templates/*.html and use `$name` placeholders. Every value is HTML-escaped unless it
is a `Markup` (already safe HTML built by the helpers below), so a string from the node can never
inject markup.
"""

from __future__ import annotations

import html
import string
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from urllib.parse import urlencode

STATIC_VERSION = "1"


class Markup(str):
    """A string that is already safe HTML."""


def esc(value) -> Markup:
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    return Markup(html.escape(str(value), quote=True))


def join(parts, sep: str = "") -> Markup:
    return Markup(sep.join(esc(p) for p in parts))


def tag(name: str, content="", **attrs) -> Markup:
    """<name attrs>content</name>; attribute names: trailing '_' dropped, '_' -> '-'."""
    a = "".join(f' {k.rstrip("_").replace("_", "-")}="{esc(v)}"' for k, v in attrs.items()
                if v is not None and v is not False)
    return Markup(f"<{name}{a}>{esc(content)}</{name}>")


def link(href: str, text, cls: str | None = None, **attrs) -> Markup:
    return tag("a", text, href=href, class_=cls, **attrs)


@lru_cache(maxsize=None)
def _template(name: str) -> string.Template:
    text = resources.files("provchain.explorer").joinpath("templates", name).read_text(encoding="utf-8")
    return string.Template(text)


def render(name: str, **ctx) -> str:
    """Fill templates/<name>; missing names are left as-is (visible in review, never a crash)."""
    return _template(name).safe_substitute({k: esc(v) for k, v in ctx.items()})


def page(title: str, body, *, active: str = "", status_note=None, scripts=(), query: str = "") -> str:
    """A full HTML page: the shared layout around `body` (Markup)."""
    nav = join(link(href, label, "active" if key == active else None)
               for key, href, label in [("home", "/", "Home"), ("records", "/records", "Records"),
                                        ("validators", "/validators", "Validators"), ("verify", "/verify", "Verify")])
    script_tags = join(Markup(f'<script src="/static/{esc(s)}?v={STATIC_VERSION}" defer></script>')
                       for s in ("app.js", *scripts))
    return render("base.html", title=title, body=body, nav=nav, scripts=script_tags, query=query,
                  status_note=status_note or "", v=STATIC_VERSION)


# --- formatting -----------------------------------------------------------------------------------

def parse_time(rfc: str) -> datetime | None:
    if not rfc:
        return None
    try:
        return datetime.strptime(rfc, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError:
        try:
            return datetime.strptime(rfc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            return None


def relative(rfc: str, now: datetime | None = None) -> str:
    t = parse_time(rfc)
    if t is None:
        return ""
    secs = int(((now or datetime.now(timezone.utc)) - t).total_seconds())
    future = secs < 0
    secs = abs(secs)
    if secs < 2:
        return "just now"
    for unit, n in (("day", 86400), ("hour", 3600), ("min", 60), ("s", 1)):
        if secs >= n:
            v = secs // n
            label = f"{v} {unit}" + ("s" if unit in ("day", "hour") and v != 1 else "")
            return f"in {label}" if future else f"{label} ago"
    return ""


def utc(rfc: str) -> str:
    t = parse_time(rfc)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC") if t else (rfc or "")


def time_tag(rfc: str, with_abs: bool = False) -> Markup:
    """<time> with the relative age; app.js keeps the age fresh. The title holds the absolute UTC time."""
    rel = tag("time", relative(rfc), datetime=rfc, title=utc(rfc), data_rel="1")
    if with_abs:
        return Markup(f"{esc(utc(rfc))} <span class=\"muted\">({rel})</span>")
    return rel


def short(h: str, n: int = 8) -> str:
    h = h or ""
    return h if len(h) <= 2 * n + 1 else f"{h[:n]}…{h[-n:]}"


LONG_HASH = 24  # hex digits from which a phone shows a hash abbreviated (it would wrap mid-token)


def mono(text, cls: str = "hash") -> Markup:
    """A hash in monospace. A long one carries both forms: the full value, and an abbreviation that a
    narrow screen shows instead (style.css), so a hash never breaks across lines; a tap shows it all."""
    t = "" if text is None else str(text)
    if cls != "hash" or len(t) < LONG_HASH:
        return tag("code", t, class_=cls)
    return Markup(f'<code class="hash long" title="{esc(t)}" tabindex="0"><span class="full">{esc(t)}</span>'
                  f'<span class="abbr" aria-hidden="true">{esc(short(t, 10))}</span></code>')


def hash_link(href: str, h: str, n: int = 8) -> Markup:
    return tag("a", tag("code", short(h, n), class_="hash"), href=href, title=h)


def kv_table(rows) -> Markup:
    """A two-column definition table from (label, value) pairs; values may be Markup."""
    out = "".join(f"<tr><th scope=\"row\">{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows if v is not None)
    return Markup(f'<table class="kv"><tbody>{out}</tbody></table>')


def table(headers, rows, cls: str = "list", empty: str = "Nothing here yet.", tbody_id: str | None = None) -> Markup:
    head = "".join(f"<th scope=\"col\">{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td data-label=\"{esc(h)}\">{esc(c)}</td>" for h, c in zip(headers, r)) + "</tr>"
                   for r in rows)
    if not rows:
        body = f'<tr class="empty"><td colspan="{len(headers)}">{esc(empty)}</td></tr>'
    tid = f' id="{esc(tbody_id)}"' if tbody_id else ""
    return Markup(f'<div class="table-wrap"><table class="{esc(cls)}"><thead><tr>{head}</tr></thead>'
                  f"<tbody{tid}>{body}</tbody></table></div>")


def pager(base: str, page: int, pages: int, extra: dict | None = None) -> Markup:
    """Links for stable pages: page 1 holds the oldest records, the highest page the newest."""
    if pages <= 1:
        return Markup("")

    def href(p):
        return base + "?" + urlencode({**(extra or {}), "page": p})
    parts = []
    parts.append(link(href(pages), "« Newest") if page < pages else tag("span", "« Newest", class_="disabled"))
    parts.append(link(href(page + 1), "‹ Newer", rel="prev") if page < pages else tag("span", "‹ Newer", class_="disabled"))
    parts.append(tag("span", f"page {page} of {pages}", class_="current"))
    parts.append(link(href(page - 1), "Older ›", rel="next") if page > 1 else tag("span", "Older ›", class_="disabled"))
    parts.append(link(href(1), "Oldest »") if page > 1 else tag("span", "Oldest »", class_="disabled"))
    return Markup('<nav class="pager" aria-label="pages">' + "".join(parts) + "</nav>")


def duration(ms) -> str:
    try:
        s = int(ms) / 1000
    except (TypeError, ValueError):
        return ""
    return f"{s:.2f} s" if s < 60 else f"{int(s // 60)} min {s % 60:04.1f} s"
