"""The case owner's Inbox: the services, the selectors, the page with its navigation count,
Mark done and Reopen (htmx and plain POST), and who may see what."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.inbox import selectors, services
from cases.inbox.context_processors import inbox as inbox_context
from cases.models import Case, InboxItem
from tests.factories import UserFactory, make_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

Kind = InboxItem.Kind
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-results"}


@pytest.fixture
def case(agency_manager):
    """A Third-Party case owned by the agency manager."""
    return make_case(owner=agency_manager, status=Case.Status.THIRD_PARTY, name="Rivera household")


@pytest.fixture
def declined(agency_manager, case):
    return services.inbox_item_add(
        user=agency_manager,
        case=case,
        kind=Kind.DECLINED,
        text="Northside Legal Aid declined: No capacity",
    )


def add_items(user, case, n: int, kind=Kind.EXPIRED) -> list[InboxItem]:
    return [
        services.inbox_item_add(user=user, case=case, kind=kind, text=f"Item {i}") for i in range(n)
    ]


def done_url(item) -> str:
    return reverse("cases:inbox_done", args=[item.pk])


def reopen_url(item) -> str:
    return reverse("cases:inbox_reopen", args=[item.pk])


# Services -----------------------------------------------------------------------------------


def test_an_added_item_is_open_and_belongs_to_the_case_owner(declined, agency_manager, case):
    assert declined.user == agency_manager
    assert declined.case == case
    assert declined.kind == Kind.DECLINED
    assert declined.done_at is None
    assert declined.done_by is None


def test_adding_for_nobody_or_for_a_deactivated_user_adds_nothing(case):
    gone = UserFactory(username="gone", is_active=False)
    assert services.inbox_item_add(user=None, case=case, kind=Kind.EXPIRED, text="x") is None
    assert services.inbox_item_add(user=gone, case=case, kind=Kind.EXPIRED, text="x") is None
    assert InboxItem.objects.count() == 0


def test_an_unknown_kind_is_refused(agency_manager, case):
    with pytest.raises(ValueError):
        services.inbox_item_add(user=agency_manager, case=case, kind="lost", text="x")


def test_the_recipient_marks_an_item_done_and_a_second_time_changes_nothing(
    declined, agency_manager
):
    first = services.inbox_item_done(actor=agency_manager, item=declined)
    again = services.inbox_item_done(actor=agency_manager, item=declined)
    assert first.done_at is not None
    assert first.done_by == agency_manager
    assert again.done_at == first.done_at


def test_reopening_clears_done_and_is_idempotent(declined, agency_manager):
    services.inbox_item_done(actor=agency_manager, item=declined)
    item = services.inbox_item_reopen(actor=agency_manager, item=declined)
    item = services.inbox_item_reopen(actor=agency_manager, item=item)
    assert (item.done_at, item.done_by) == (None, None)


@pytest.mark.parametrize("verb", ["inbox_item_done", "inbox_item_reopen"])
def test_nobody_but_the_recipient_changes_an_item(declined, caseworker, admin_user, verb):
    for actor in (caseworker, admin_user):
        with pytest.raises(PermissionDenied):
            getattr(services, verb)(actor=actor, item=declined)
    declined.refresh_from_db()
    assert declined.done_at is None


def test_the_database_refuses_done_by_without_done_at(declined, agency_manager):
    with pytest.raises(IntegrityError), transaction.atomic():
        InboxItem.objects.filter(pk=declined.pk).update(done_by=agency_manager)


# Selectors ----------------------------------------------------------------------------------


def test_the_items_are_the_users_own_newest_first(agency_manager, caseworker, case):
    older, newer = add_items(agency_manager, case, 2)
    add_items(caseworker, case, 1)
    assert list(selectors.inbox_items_for_user(user=agency_manager)) == [newer, older]


def test_the_selector_filters_open_done_all_and_kind(agency_manager, case):
    expired = add_items(agency_manager, case, 1)[0]
    escalated = add_items(agency_manager, case, 1, kind=Kind.ESCALATED)[0]
    services.inbox_item_done(actor=agency_manager, item=expired)

    def pks(**filters):
        return {i.pk for i in selectors.inbox_items_for_user(user=agency_manager, **filters)}

    assert pks() == {escalated.pk}
    assert pks(show="done") == {expired.pk}
    assert pks(show="all") == {expired.pk, escalated.pk}
    assert pks(show="all", kind=Kind.EXPIRED) == {expired.pk}


def test_the_open_count_is_one_query(agency_manager, case, django_assert_num_queries):
    items = add_items(agency_manager, case, 3)
    services.inbox_item_done(actor=agency_manager, item=items[0])
    with django_assert_num_queries(1):
        assert selectors.inbox_open_count(user=agency_manager) == 2


# The page -----------------------------------------------------------------------------------


def test_the_inbox_lists_the_open_items_with_a_link_to_the_case(manager_client, declined, case):
    response = manager_client.get(reverse("cases:inbox"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Referral declined" in body
    assert "Northside Legal Aid declined: No capacity" in body
    assert case.number in body
    assert reverse("cases:detail", args=[case.pk, "team"]) in body
    assert f'action="{done_url(declined)}"' in body
    assert f'hx-post="{done_url(declined)}"' in body


def test_the_navigation_shows_the_open_count_to_screen_readers_too(
    manager_client, agency_manager, case
):
    add_items(agency_manager, case, 3)
    body = manager_client.get(reverse("cases:list")).content.decode()
    assert reverse("cases:inbox") in body
    assert '<span class="usa-tag cw-nav-badge" aria-hidden="true">3</span>' in body
    assert '<span class="usa-sr-only">, 3 open items</span>' in body


def test_the_inbox_link_is_current_on_the_inbox_page(manager_client):
    body = manager_client.get(reverse("cases:inbox")).content.decode()
    assert (
        f'<a href="{reverse("cases:inbox")}" class="usa-nav-link usa-current" '
        'aria-current="page">' in body
    )


def test_without_open_items_the_navigation_shows_no_badge(manager_client):
    body = manager_client.get(reverse("cases:list")).content.decode()
    assert '<span id="inbox-nav-count"></span>' in body


def test_an_empty_inbox_says_nothing_needs_attention(manager_client):
    body = manager_client.get(reverse("cases:inbox")).content.decode()
    assert "Nothing needs your attention" in body
    assert "<table" not in body


def test_a_filter_without_results_says_so_and_offers_the_open_items(manager_client, declined):
    body = manager_client.get(reverse("cases:inbox"), {"show": "done"}).content.decode()
    assert "No done items." in body
    assert "Nothing needs your attention" not in body


def test_marking_done_without_script_redirects_back_to_the_same_filters(
    manager_client, declined, agency_manager
):
    response = manager_client.post(done_url(declined), {"show": "open", "kind": "declined"})
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:inbox") + "?kind=declined"
    declined.refresh_from_db()
    assert declined.done_at is not None and declined.done_by == agency_manager
    page = manager_client.get(response["Location"]).content.decode()
    assert f"of case {declined.case.number} done." in page
    assert "No open items of this kind." in page


def test_marking_done_with_htmx_returns_the_table_and_the_new_count(
    manager_client, agency_manager, case
):
    first, second = add_items(agency_manager, case, 2)
    response = manager_client.post(done_url(first), {"show": "open"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="inbox-results"' in body
    assert "<html" not in body
    assert f'action="{done_url(second)}"' in body
    assert f'action="{done_url(first)}"' not in body
    assert 'id="inbox-nav-count" hx-swap-oob="true"' in body
    assert ", 1 open item<" in body
    assert "done." in body  # the message, inside the swapped region
    assert "HX-Request" in response["Vary"]


def test_reopening_with_and_without_htmx(manager_client, declined, agency_manager):
    services.inbox_item_done(actor=agency_manager, item=declined)
    response = manager_client.post(reopen_url(declined), {"show": "done"})
    assert response["Location"] == reverse("cases:inbox") + "?show=done"
    declined.refresh_from_db()
    assert declined.done_at is None

    services.inbox_item_done(actor=agency_manager, item=declined)
    response = manager_client.post(reopen_url(declined), {"show": "all"}, **HTMX)
    assert response.status_code == 200
    assert f'action="{done_url(declined)}"' in response.content.decode()
    declined.refresh_from_db()
    assert declined.done_at is None


def test_done_items_show_when_and_by_whom_with_a_reopen_button(manager_client, declined):
    services.inbox_item_done(actor=declined.user, item=declined)
    body = manager_client.get(reverse("cases:inbox"), {"show": "done"}).content.decode()
    assert f'action="{reopen_url(declined)}"' in body
    assert "Done <time" in body
    assert declined.user.get_full_name() in body


@pytest.mark.parametrize("url", [done_url, reopen_url])
def test_another_users_item_is_404_and_unchanged(caseworker_client, declined, url):
    response = caseworker_client.post(url(declined))
    assert response.status_code == 404
    declined.refresh_from_db()
    assert declined.done_at is None


@pytest.mark.parametrize("url", [done_url, reopen_url])
def test_get_on_the_buttons_is_405(manager_client, declined, url):
    assert manager_client.get(url(declined)).status_code == 405
    declined.refresh_from_db()
    assert declined.done_at is None


@pytest.mark.parametrize("who", ["partner_agent", "partner_manager"])
def test_partner_users_are_refused(client, request, declined, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("cases:inbox")).status_code == 403
    assert client.post(done_url(declined)).status_code == 403
    declined.refresh_from_db()
    assert declined.done_at is None


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("cases:inbox"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_count_is_not_offered_to_partner_users(rf, partner_agent, partner_manager):
    for user in (partner_agent, partner_manager):
        request = rf.get("/portal/")
        request.user = user
        assert inbox_context(request) == {}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"Escalated to you", "Referral declined"}),
        ({"kind": "escalated"}, {"Escalated to you"}),
        ({"show": "done"}, {"Referral expired"}),
        ({"show": "all", "kind": "expired"}, {"Referral expired"}),
        ({"show": "nonsense", "kind": "nonsense"}, {"Escalated to you", "Referral declined"}),
    ],
)
def test_the_filters_come_from_the_url(manager_client, agency_manager, case, params, expected):
    for kind in (Kind.ESCALATED, Kind.DECLINED, Kind.EXPIRED):
        item = add_items(agency_manager, case, 1, kind=kind)[0]
    services.inbox_item_done(actor=agency_manager, item=item)
    response = manager_client.get(reverse("cases:inbox"), params)
    shown = {i.get_kind_display() for i in response.context["items"]}
    assert shown == expected


def test_the_inbox_has_25_items_a_page_and_the_pages_keep_the_filters(
    manager_client, agency_manager, case
):
    add_items(agency_manager, case, 30, kind=Kind.FAILED)
    first = manager_client.get(reverse("cases:inbox"), {"kind": "failed"})
    assert len(first.context["items"]) == 25
    assert first.context["page"].paginator.count == 30
    assert 'href="/cases/inbox/?kind=failed&amp;page=2"' in first.content.decode()
    second = manager_client.get(reverse("cases:inbox"), {"kind": "failed", "page": 2})
    assert len(second.context["items"]) == 5
    body = second.content.decode()
    assert '<input type="hidden" name="page" value="2">' in body


def test_marking_done_on_a_later_page_comes_back_to_that_page(manager_client, agency_manager, case):
    items = add_items(agency_manager, case, 30)
    response = manager_client.post(done_url(items[0]), {"show": "open", "page": "2"})
    assert response["Location"] == reverse("cases:inbox") + "?page=2"


def test_the_page_queries_do_not_grow_with_items(
    manager_client, agency_manager, case, django_assert_max_num_queries
):
    add_items(agency_manager, case, 2)
    other = make_case(owner=agency_manager, status=Case.Status.THIRD_PARTY)
    add_items(agency_manager, other, 1)
    manager_client.get(reverse("cases:inbox"))  # warm the session and permission caches

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert manager_client.get(reverse("cases:inbox")).status_code == 200
        return len(captured)

    few = queries()
    for _ in range(8):
        add_items(agency_manager, make_case(owner=agency_manager), 2)
    with django_assert_max_num_queries(few):
        manager_client.get(reverse("cases:inbox"))


def test_items_are_listed_newest_first_on_the_page(manager_client, agency_manager, case):
    older, newer = add_items(agency_manager, case, 2)
    InboxItem.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=2))
    items = manager_client.get(reverse("cases:inbox")).context["items"]
    assert items == [newer, older]
