"""Campaign content: the sandbox refuses what is not a merge field, the HTML is sanitised and
inlined on save, and a text alternative is made when the author leaves it empty."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from privacy_service.mail.campaigns import rendering
from privacy_service.mail.campaigns.models import Campaign
from tests.mail.campaigns.helpers import HTML, audience, campaign_form, log_in, sending_organisation
from tests.support.forms import submit_form


@pytest.fixture
def app_config():
    return {"DKIM_KEY_BITS": 1024}


ATTACKS = [
    "{{ config }}",
    "{{ config.SECRET_KEY }}",
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ contact.__class__ }}",
    "{{ contact['__class__'] }}",
    "{% for key in environ %}{{ key }}{% endfor %}",
    "{% for name in self.__dict__ %}{{ name }}{% endfor %}",
    "{{ lipsum.__globals__ }}",
    "{{ request.environ }}",
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{% for x in range(10) %}{{ x }}{% endfor %}",
]


@pytest.mark.parametrize("template", ATTACKS)
def test_a_template_reaching_beyond_the_merge_fields_is_refused_at_save_with_a_clear_message(
    app, db, client, clock, template
):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 1, now)
    log_in(client, sender.admin)
    response = submit_form(
        client,
        "/campaigns/new",
        campaign_form(sender, people.contact_list, html_body=f"<p>{template}</p>"),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "is not a merge field" in page or "Unknown merge field" in page
    # Nothing of the configuration or the environment is on the page.
    assert app.config["SECRET_KEY"] not in page
    assert "PATH=" not in page and "/usr/bin" not in page


def test_the_sandbox_itself_renders_nothing_sensitive_even_without_the_static_check(app):
    # Below the save-time check: the sandbox refuses at render time too.
    context = rendering.merge_context(
        rendering.contact_fields("a@example.org", "Ann Lee", {}),
        organisation_name="Org",
        campaign_name="C",
        unsubscribe_url="https://u",
        preferences_url="https://p",
    )
    environment = rendering._ENVIRONMENTS[True]

    def compiled(source: str) -> rendering.CompiledCampaign:
        return rendering.CompiledCampaign(
            subject=environment.from_string("s").render,
            html=environment.from_string(source).render,
            text=environment.from_string("t").render,
        )

    for source in (
        "{{ ''.__class__ }}",
        "{{ contact.items.__self__ }}",
        "{{ lipsum.__globals__ }}",
    ):
        with pytest.raises(rendering.TemplateRefused) as refused:
            rendering.render(compiled(source), context)
        assert app.config["SECRET_KEY"] not in str(refused.value.message)
    # Names that are not merge data are simply not there.
    for source in ("{{ config }}", "{% for k in environ %}{{ k }}{% endfor %}", "{{ self }}x"):
        rendered = rendering.render(compiled(source), context).html
        assert app.config["SECRET_KEY"] not in rendered
        assert rendered in ("", "x") or "TemplateReference" in rendered


def test_html_is_sanitised_and_css_inlined_on_save_and_the_text_made_from_it(
    app, db, client, clock
):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 1, now)
    log_in(client, sender.admin)
    html = (
        HTML
        + '<p onclick="steal()">Click <a href="javascript:alert(1)">here</a></p>'
        + "<script>alert('x')</script><img src=x onerror=alert(1)>"
    )
    response = submit_form(
        client, "/campaigns/new", campaign_form(sender, people.contact_list, html_body=html)
    )
    assert response.status_code == 302
    saved = db.session.scalar(select(Campaign)).html_body
    assert "onclick" not in saved and "onerror" not in saved
    assert "javascript:" not in saved and "<script" not in saved and "alert('x')" not in saved
    # The <style> rule is now on the paragraphs themselves.
    assert '<p style="color: #333333;">Our news for' in saved
    preview = client.get(response.headers["Location"] + "/preview").get_data(as_text=True)
    # The text alternative came from the HTML, with the link's address.
    assert "Hello Camille0" in preview
    assert "https://shop.example.org/news?a=1&amp;b=2" in preview


def test_a_syntax_error_is_refused_at_save_and_nothing_typed_is_lost(app, db, client, clock):
    now = clock.now()
    sender = sending_organisation(now)
    people = audience(sender.organisation.id, 1, now)
    log_in(client, sender.admin)
    body = "<p>Hello {{ contact.first_name </p>"
    response = submit_form(
        client, "/campaigns/new", campaign_form(sender, people.contact_list, html_body=body)
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The template has an error on line 1" in page
    assert "Hello {{ contact.first_name" in page
