"""Campaign content: what happens to the author's HTML on save, the sandboxed merge fields,
the footer the service adds, tracking, and the MIME message that goes into the outbox.

Issue 8: merge fields are rendered in a **sandboxed** Jinja environment that sees only plain
data (the contact's fields, the links, the organisation's and campaign's names): no Python
object, no configuration, no file system. A template that names anything else, or reaches for
an attribute starting with ``_``, is refused with a message saying which, at save and at
preview, so it never fails at send.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

import css_inline
import nh3
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig
from jinja2 import TemplateSyntaxError, Undefined, UndefinedError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from privacy_service.errors import DomainError

# What a template may name (documented in docs/campaigns.md).
MERGE_NAMES = frozenset(
    {"contact", "unsubscribe_url", "preferences_url", "organisation", "campaign"}
)
CONTACT_FIELDS = ("email", "name", "first_name", "last_name")

_EXTRA_ATTRIBUTES = {
    "*": {"style", "class", "align", "valign", "width", "height", "bgcolor", "dir", "lang"},
    "a": {"href", "target", "title"},
    "img": {"src", "alt", "width", "height", "border"},
    "table": {"border", "cellpadding", "cellspacing", "role"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
_HREF = re.compile(r'href="(https?://[^"]+)"')


class TemplateRefused(DomainError):
    """The campaign's template cannot be rendered safely (or at all); ``message`` says why."""

    status = 422
    code = "template_refused"
    default_message = _l("This template cannot be used.")


# --- on save --------------------------------------------------------------------------------------


def _attributes() -> dict[str, set[str]]:
    allowed = {tag: set(values) for tag, values in nh3.ALLOWED_ATTRIBUTES.items()}
    for tag, values in _EXTRA_ATTRIBUTES.items():
        allowed.setdefault(tag, set()).update(values)
    return allowed


def sanitise_html(source: str) -> str:
    """CSS inlined for mail clients, then cleaned: no script, no event handler, no
    ``javascript:`` link (nh3 keeps only the tags, attributes and URL schemes allowed)."""
    inlined = css_inline.inline(source, keep_style_tags=False) if "<style" in source else source
    return nh3.clean(
        inlined,
        attributes=_attributes(),
        clean_content_tags={"script", "style", "title", "head"},
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
        strip_comments=True,
    ).strip()


def text_from_html(source: str) -> str:
    """The text alternative an author left empty, links kept as ``[text](url)``."""
    config = ParserConfig(css=CSS_PROFILES["strict"], display_links=True)
    return get_text(source, config).strip() + "\n"


# --- the sandbox -------------------------------------------------------------------------------


class _MergeUndefined(Undefined):
    """A contact without an attribute shows nothing (one person's missing city must not stop
    a campaign); what the sandbox refused raises, so it is never silently rendered."""

    __slots__ = ()

    def _refuse_unsafe(self) -> None:
        if self._undefined_exception is SecurityError:
            self._fail_with_undefined_error()

    def __str__(self) -> str:
        self._refuse_unsafe()
        return ""

    def __iter__(self) -> Iterator[Any]:
        self._refuse_unsafe()
        return iter(())

    def __bool__(self) -> bool:
        self._refuse_unsafe()
        return False


def _environment(autoescape: bool) -> SandboxedEnvironment:
    environment = SandboxedEnvironment(autoescape=autoescape, undefined=_MergeUndefined)
    # No global at all (range, lipsum, dict, cycler, joiner, namespace): only the merge data.
    environment.globals.clear()
    return environment


_ENVIRONMENTS = {True: _environment(True), False: _environment(False)}


def _refuse_names(tree: nodes.Template) -> None:
    unknown = sorted(meta.find_undeclared_variables(tree) - MERGE_NAMES)
    if unknown:
        raise TemplateRefused(
            _l(
                "Unknown merge field “%(name)s”. You can use contact.first_name, "
                "contact.last_name, contact.name, contact.email, contact.attributes.<name>, "
                "unsubscribe_url, preferences_url, organisation.name and campaign.name.",
                name=unknown[0],
            )
        )
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(name, str) and name.startswith("_"):
            raise TemplateRefused(
                _l(
                    "“%(name)s” is not a merge field: templates can only show the contact's "
                    "fields and the links.",
                    name=name,
                )
            )


def check_template(source: str, field: str) -> None:
    """Refuse a template that does not parse or names anything but the merge fields."""
    environment = _ENVIRONMENTS[False]
    try:
        tree = environment.parse(source)
    except TemplateSyntaxError as error:
        message = _l(
            "The template has an error on line %(line)s: %(error)s",
            line=error.lineno,
            error=error.message or "",
        )
        raise TemplateRefused(message, fields={field: [message]}) from None
    try:
        _refuse_names(tree)
    except TemplateRefused as refused:
        refused.fields = {field: [refused.message]}
        raise


@dataclass(frozen=True)
class CompiledCampaign:
    subject: Callable[[dict[str, Any]], str]
    html: Callable[[dict[str, Any]], str]
    text: Callable[[dict[str, Any]], str]


def compile_campaign(subject: str, html_body: str, text_body: str) -> CompiledCampaign:
    for source, field in ((subject, "subject"), (html_body, "html_body"), (text_body, "text_body")):
        check_template(source, field)
    return CompiledCampaign(
        subject=_ENVIRONMENTS[False].from_string(subject).render,
        html=_ENVIRONMENTS[True].from_string(html_body).render,
        text=_ENVIRONMENTS[False].from_string(text_body).render,
    )


def merge_context(
    contact: dict[str, Any],
    *,
    organisation_name: str,
    campaign_name: str,
    unsubscribe_url: str,
    preferences_url: str,
) -> dict[str, Any]:
    """Plain data only (dicts and strings): the sandbox has nothing else to reach."""
    return {
        "contact": contact,
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url,
        "organisation": {"name": organisation_name},
        "campaign": {"name": campaign_name},
    }


def contact_fields(email: str, name: str | None, attributes: dict[str, Any] | None) -> dict:
    """The ``contact`` merge data: first and last name from the attributes, else the name."""
    attributes = {str(k): v for k, v in (attributes or {}).items() if isinstance(k, str)}
    parts = (name or "").split(None, 1)
    first = attributes.get("first_name") or (parts[0] if parts else "")
    last = attributes.get("last_name") or (parts[1] if len(parts) > 1 else "")
    return {
        "email": email,
        "name": name or "",
        "first_name": str(first),
        "last_name": str(last),
        "attributes": {k: "" if v is None else v for k, v in attributes.items()},
    }


@dataclass(frozen=True)
class RenderedParts:
    subject: str
    html: str
    text: str


def render(compiled: CompiledCampaign, context: dict[str, Any]) -> RenderedParts:
    """Render the three parts; anything the sandbox refuses becomes a TemplateRefused."""
    try:
        subject = " ".join(compiled.subject(context).split())
        return RenderedParts(subject, compiled.html(context), compiled.text(context))
    except SecurityError as error:
        raise TemplateRefused(
            _l("This template tries to reach something it may not (%(error)s).", error=error)
        ) from None
    except UndefinedError as error:
        raise TemplateRefused(
            _l(
                "This template uses a merge field the contact does not have (%(error)s).",
                error=error,
            )
        ) from None
    except Exception as error:  # a filter given the wrong value, a division by zero...
        raise TemplateRefused(
            _l("This template cannot be rendered (%(error)s).", error=type(error).__name__)
        ) from None


# --- the message ------------------------------------------------------------------------------


def with_footer(
    parts: RenderedParts,
    *,
    language: str,
    organisation_name: str,
    unsubscribe_url: str,
    preferences_url: str,
) -> RenderedParts:
    """Every marketing email has a visible unsubscribe link (privacy policy; spec, "Mail and
    lists"), added by the service whatever the author wrote."""
    context = {
        "organisation_name": organisation_name,
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url,
    }
    with force_locale(language):
        footer_html = render_template("campaigns/email/_footer.html", **context)
        footer_text = render_template("campaigns/email/_footer.txt", **context)
    document = (
        '<!DOCTYPE html>\n<html lang="' + language + '"><head><meta charset="utf-8"></head>'
        "<body>\n" + parts.html + "\n" + footer_html.strip() + "\n</body></html>\n"
    )
    text = parts.text.rstrip("\n") + "\n\n-- \n" + footer_text.strip() + "\n"
    return RenderedParts(parts.subject, document, text)


def add_tracking(
    document: str, *, click_url: Callable[[str], str], open_url: str, untracked: set[str]
) -> str:
    """Click links through the signed redirect, and the open pixel. Only for a recipient who
    consented, at an organisation that enabled tracking; the links the service adds
    (unsubscribe, preferences) are never tracked."""

    def rewrite(match: re.Match[str]) -> str:
        url = html.unescape(match.group(1))
        if url in untracked:
            return match.group(0)
        return 'href="' + html.escape(click_url(url), quote=True) + '"'

    tracked = _HREF.sub(rewrite, document)
    pixel = (
        '<img src="' + html.escape(open_url, quote=True) + '" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px">'
    )
    return tracked.replace("\n</body>", "\n" + pixel + "\n</body>", 1)


def sender_header(email: str, display_name: str | None) -> str:
    local, _, domain = email.rpartition("@")
    return str(Address(display_name=display_name or "", username=local, domain=domain))


def unsubscribe_mailto(token: str) -> str:
    """RFC 2369 mailto: a message to the service's bounce address with the token as subject;
    ``privacy-service mail ingest`` reads it and withdraws consent like the link does."""
    address = current_app.config.get("MAIL_RETURN_PATH") or current_app.config["MAIL_FROM"]
    address = Address(addr_spec=_addr_spec(address)).addr_spec
    return f"mailto:{address}?subject=unsubscribe%20{token}"


def _addr_spec(value: str) -> str:
    from email.utils import parseaddr

    return parseaddr(value)[1]


def build_message(
    parts: RenderedParts,
    *,
    sender: str,
    recipient: str,
    language: str,
    unsubscribe_url: str | None,
    unsubscribe_mailto_url: str | None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = parts.subject
    if unsubscribe_url:
        # RFC 2369 and RFC 8058: one-click POST to the HTTPS link; the mailto for old clients.
        links = f"<{unsubscribe_url}>"
        if unsubscribe_mailto_url:
            links += f", <{unsubscribe_mailto_url}>"
        message["List-Unsubscribe"] = links
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(parts.text)
    message.add_alternative(parts.html, subtype="html")
    message["Content-Language"] = language
    return message
