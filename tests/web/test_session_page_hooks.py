"""The session page is care's; apps built on care add to it through ``care.hooks.session_page``
(the feedback app its link panel), so care imports nothing from them."""

from __future__ import annotations

import pytest

from alliance.care import services
from alliance.care.hooks import session_page, session_page_context
from tests.web.test_web_pages import logged_in, session_url


@pytest.fixture
def tara_session(personas):
    return services.start_session(personas.tara, personas.tara_client)


def test_the_session_page_shows_the_feedback_apps_link_panel(personas, tara_session):
    page = logged_in(personas.tara).get(session_url(personas.tara_client)).content.decode()
    assert 'id="links-heading"' in page and 'id="link-form"' in page


def test_the_session_page_context_joins_every_receivers_answer(personas, tara_session, rf):
    def extra(sender, *, request, session, **kwargs):
        return {"extra_panel": session.number}

    session_page.connect(extra, dispatch_uid="test.extra_panel")
    try:
        context = session_page_context(rf.get("/"), tara_session)
    finally:
        session_page.disconnect(dispatch_uid="test.extra_panel")
    assert context["extra_panel"] == 1
    assert context["link_panel"]["forms"][0][0] == "ors"  # the feedback app's own answer
