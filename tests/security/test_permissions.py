"""The one permissions module: role predicates, the service check, the view decorator, the API."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory

from alliance.accounts.models import Role, User
from alliance.accounts.permissions import (
    active_membership,
    api_require_role,
    has_role,
    is_admin,
    is_supervisor_or_admin,
    require_role,
    role_of,
    role_required,
)
from alliance.accounts.security import two_factor_required
from alliance.accounts.tenancy import membership_of
from alliance.api.auth import ApiError, require_admin
from alliance.api.auth import role_of as api_role_of


def deactivate(user: User) -> User:
    user.is_active = False
    user.save(update_fields=["is_active"])
    return User.objects.select_related("membership").get(pk=user.pk)


def test_each_member_has_the_role_of_their_membership(personas):
    assert role_of(personas.alice) == Role.ADMIN
    assert role_of(personas.sam) == Role.SUPERVISOR
    assert role_of(personas.tara) == Role.THERAPIST
    assert role_of(personas.olga) == Role.ADMIN


def test_anonymous_visitors_and_users_without_an_agency_have_no_role(personas):
    platform = User.objects.create_user("platform", password="x" * 12, is_superuser=True)
    for nobody in (AnonymousUser(), platform, None):
        assert role_of(nobody) == ""
        assert active_membership(nobody) is None
        assert not has_role(nobody)
        assert not is_admin(nobody) and not is_supervisor_or_admin(nobody)
        with pytest.raises(PermissionDenied):
            require_role(nobody)


def test_an_inactive_user_keeps_their_agency_but_has_no_role(personas):
    alice = deactivate(personas.alice)
    assert membership_of(alice).agency == personas.riverside  # the audit trail still knows
    assert active_membership(alice) is None
    assert role_of(alice) == "" and not has_role(alice) and not has_role(alice, Role.ADMIN)
    assert not is_admin(alice) and not is_supervisor_or_admin(alice)
    with pytest.raises(PermissionDenied):
        require_role(alice, Role.ADMIN)


def test_an_inactive_supervisor_is_not_asked_for_two_factor(personas):
    personas.riverside.two_factor_admin = True
    personas.riverside.two_factor_supervisor = True
    personas.riverside.save()
    assert two_factor_required(personas.sam)
    assert not two_factor_required(deactivate(personas.sam))
    assert not two_factor_required(personas.tara)


def test_the_two_factor_policy_is_decided_per_role(personas):
    from alliance.accounts.permissions import two_factor_required as role_needs_two_factor

    agency = personas.riverside
    agency.two_factor_admin, agency.two_factor_supervisor = False, False
    agency.two_factor_therapist = True
    agency.save()
    assert role_needs_two_factor(membership_of(personas.tara))
    assert not role_needs_two_factor(membership_of(personas.sam))
    assert not role_needs_two_factor(membership_of(personas.alice))
    assert not role_needs_two_factor(None)


def test_has_role_without_roles_named_means_any_role(personas):
    assert has_role(personas.tara) and has_role(personas.alice)
    assert has_role(personas.tara, Role.THERAPIST, Role.SUPERVISOR)
    assert not has_role(personas.tara, Role.ADMIN)


def test_supervisors_and_admins_but_not_therapists_count_as_supervisor_or_admin(personas):
    assert is_supervisor_or_admin(personas.alice) and is_supervisor_or_admin(personas.sam)
    assert not is_supervisor_or_admin(personas.tara)
    assert is_admin(personas.alice) and not is_admin(personas.sam) and not is_admin(personas.tara)


def test_require_role_returns_the_membership_or_refuses(personas):
    assert require_role(personas.sam, Role.SUPERVISOR, Role.ADMIN).agency == personas.riverside
    assert require_role(personas.tara).role == Role.THERAPIST  # any role
    with pytest.raises(PermissionDenied):
        require_role(personas.sam, Role.ADMIN)


@role_required(Role.ADMIN)
def admin_page(request):
    return HttpResponse("admin only")


def request_by(user):
    request = RequestFactory().get("/somewhere/?page=2")
    request.user = user
    return request


def test_the_view_decorator_sends_anonymous_visitors_to_the_login_page(personas):
    response = admin_page(request_by(AnonymousUser()))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/") and "next=/somewhere/" in response["Location"]


def test_the_view_decorator_refuses_other_roles_and_inactive_admins(personas):
    for user in (personas.tara, personas.sam, deactivate(personas.alice)):
        with pytest.raises(PermissionDenied):
            admin_page(request_by(user))


def test_the_view_decorator_lets_the_role_through(personas):
    response = admin_page(request_by(personas.olga))
    assert response.status_code == 200 and response.content == b"admin only"


def api_request(user):
    return SimpleNamespace(auth=SimpleNamespace(user=user))


def test_the_api_check_asks_about_the_user_the_token_acts_for(personas):
    assert api_require_role(api_request(personas.alice), Role.ADMIN).user == personas.alice
    with pytest.raises(PermissionDenied):
        api_require_role(api_request(personas.tara), Role.ADMIN)
    with pytest.raises(PermissionDenied):
        api_require_role(SimpleNamespace(auth=None), Role.ADMIN)


def test_the_api_answers_a_missing_role_with_its_own_403_error(personas):
    require_admin(api_request(personas.alice))
    with pytest.raises(ApiError) as refused:
        require_admin(api_request(personas.sam))
    assert (refused.value.status, refused.value.code) == (403, "forbidden")
    with pytest.raises(ApiError):
        require_admin(api_request(deactivate(personas.olga)))
    assert api_role_of(api_request(personas.sam)) == Role.SUPERVISOR
    assert api_role_of(api_request(deactivate(personas.tara))) == ""
