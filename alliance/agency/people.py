"""People and teams: invitations, roles, teams, deactivation, lockouts and two-factor resets.

Agency admins run these pages; supervisors read their teams' people and teams (no buttons, and
every POST is a 403 for them). People and teams of another agency, or out of a supervisor's
reach, are a 404 (``accounts.visibility``). The actions live in ``accounts.services``; each is
audited there. The invitation link (``join/<token>/``) is public: its ``token`` URL parameter
is blanked in the request log (``ops.logging.SECRET_URL_KWARGS``).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from alliance.accounts import services
from alliance.accounts.forms import (
    AcceptInvitationForm,
    DeactivateForm,
    InviteForm,
    RoleForm,
    TeamMemberForm,
    TeamNameForm,
    TeamsForm,
)
from alliance.accounts.models import Invitation, Role, TeamMembership, User
from alliance.accounts.network import client_ip
from alliance.accounts.permissions import (
    SUPERVISOR_OR_ADMIN,
    active_membership,
    role_required,
    two_factor_required,
)
from alliance.accounts.security import device_of, two_factor_locked
from alliance.accounts.tenancy import agency_of
from alliance.accounts.visibility import (
    get_visible_person_or_404,
    get_visible_team_or_404,
    visible_people,
    visible_teams,
)

ADMIN = (Role.ADMIN,)


def _agency(request: HttpRequest):
    agency = agency_of(request.user)
    assert agency is not None  # the role check admits agency members only
    return agency


def _is_admin(request: HttpRequest) -> bool:
    membership = active_membership(request.user)
    return membership is not None and membership.role == Role.ADMIN


def _invitation_url(request: HttpRequest):
    return lambda token: request.build_absolute_uri(
        reverse("agency:accept_invitation", args=[token])
    )


# --- people ----------------------------------------------------------------------------------


@require_safe
@role_required(*SUPERVISOR_OR_ADMIN)
def people(request: HttpRequest) -> HttpResponse:
    agency = _agency(request)
    members = visible_people(request.user).prefetch_related("team_memberships__team")
    context = {
        "people": members.order_by("-is_active", "username"),
        "can_edit": _is_admin(request),
        # Open and expired ones (an expired invitation can be sent again).
        "invitations": (
            Invitation.objects.filter(
                agency=agency, accepted_at__isnull=True, revoked_at__isnull=True
            ).select_related("team")
            if _is_admin(request)
            else []
        ),
    }
    return render(request, "agency/people.html", context)


@require_http_methods(["GET", "POST"])
@role_required(*ADMIN)
def invite(request: HttpRequest) -> HttpResponse:
    agency = _agency(request)
    form = InviteForm(request.POST or None, agency=agency)
    if request.method == "POST" and form.is_valid():
        try:
            services.invite(
                request.user,
                agency,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                team=form.cleaned_data["team"],
                url_for=_invitation_url(request),
                language=translation.get_language() or "",
                ip=client_ip(request),
            )
        except services.PeopleError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("The invitation is on its way."))
            return redirect("agency:people")
    status = 400 if form.is_bound else 200
    context = {"form": form, "days": services.invitation_days()}
    return render(request, "agency/invite.html", context, status=status)


@require_POST
@role_required(*ADMIN)
def resend_invitation(request: HttpRequest, public_id: str) -> HttpResponse:
    try:
        services.resend_invitation(
            request.user,
            _agency(request),
            public_id,
            url_for=_invitation_url(request),
            language=translation.get_language() or "",
            ip=client_ip(request),
        )
    except services.NotInAgency:
        raise Http404 from None
    except services.PeopleError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, _("A new invitation is on its way; the old link no longer works.")
        )
    return redirect("agency:people")


@require_POST
@role_required(*ADMIN)
def revoke_invitation(request: HttpRequest, public_id: str) -> HttpResponse:
    try:
        services.revoke_invitation(request.user, _agency(request), public_id, ip=client_ip(request))
    except services.NotInAgency:
        raise Http404 from None
    messages.success(request, _("The invitation is withdrawn."))
    return redirect("agency:people")


def _person_page(
    request: HttpRequest,
    person: User,
    *,
    status: int = 200,
    forms: dict | None = None,
    error: str = "",
) -> HttpResponse:
    agency = _agency(request)
    can_edit = _is_admin(request)
    membership = person.membership
    device = device_of(person)
    forms = forms or {}
    clients = person.clients.filter(agency=agency).count() if can_edit else None
    teams = [
        link.team
        for link in TeamMembership.objects.filter(agency=agency, user=person)
        .select_related("team")
        .order_by("team__name")
    ]
    locked = can_edit and any(row["user"] == person for row in services.locked_members(agency))
    context: dict[str, object] = {
        "person": person,
        "membership": membership,
        "teams": teams,
        "can_edit": can_edit,
        "is_self": person.pk == request.user.pk,
        "two_factor": device is not None and device.confirmed,
        "two_factor_needed": two_factor_required(membership),
        "locked": locked,
        "two_factor_locked": device is not None and two_factor_locked(device),
        "clients": clients,
        "error": error,
    }
    if can_edit:
        context["role_form"] = forms.get("role") or RoleForm(initial={"role": membership.role})
        context["teams_form"] = forms.get("teams") or TeamsForm(
            agency=agency, initial={"teams": [team.public_id for team in teams]}
        )
        context["deactivate_form"] = forms.get("deactivate") or DeactivateForm(
            people=services.successors(agency, person)
        )
    return render(request, "agency/person.html", context, status=status)


@require_safe
@role_required(*SUPERVISOR_OR_ADMIN)
def person(request: HttpRequest, public_id: str) -> HttpResponse:
    return _person_page(request, get_visible_person_or_404(request.user, public_id))


def _admin_person(request: HttpRequest, public_id: str) -> User:
    """The person of the admin's agency (404 otherwise)."""
    return get_visible_person_or_404(request.user, public_id)


@require_POST
@role_required(*ADMIN)
def set_role(request: HttpRequest, public_id: str) -> HttpResponse:
    target = _admin_person(request, public_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _person_page(request, target, status=400, forms={"role": form})
    try:
        services.set_role(
            request.user,
            _agency(request),
            public_id,
            form.cleaned_data["role"],
            ip=client_ip(request),
        )
    except services.PeopleError as error:
        return _person_page(request, target, status=400, forms={"role": form}, error=str(error))
    messages.success(request, _("The role is saved."))
    return redirect("agency:person", public_id=public_id)


@require_POST
@role_required(*ADMIN)
def set_teams(request: HttpRequest, public_id: str) -> HttpResponse:
    agency = _agency(request)
    target = _admin_person(request, public_id)
    form = TeamsForm(request.POST, agency=agency)
    if not form.is_valid():
        return _person_page(request, target, status=400, forms={"teams": form})
    services.set_teams(
        request.user, agency, public_id, form.cleaned_data["teams"], ip=client_ip(request)
    )
    messages.success(request, _("The teams are saved."))
    return redirect("agency:person", public_id=public_id)


@require_POST
@role_required(*ADMIN)
def deactivate(request: HttpRequest, public_id: str) -> HttpResponse:
    agency = _agency(request)
    target = _admin_person(request, public_id)
    form = DeactivateForm(request.POST, people=services.successors(agency, target))
    if not form.is_valid():
        return _person_page(request, target, status=400, forms={"deactivate": form})
    try:
        counts = services.deactivate(
            request.user,
            agency,
            public_id,
            successor_id=form.cleaned_data["successor"],
            ip=client_ip(request),
        )
    except services.PeopleError as error:
        return _person_page(
            request, target, status=400, forms={"deactivate": form}, error=str(error)
        )
    messages.success(
        request,
        _("%(name)s is deactivated. Clients handed over: %(count)s.")
        % {"name": target.username, "count": counts["clients_reassigned"]},
    )
    return redirect("agency:person", public_id=public_id)


@require_POST
@role_required(*ADMIN)
def reactivate(request: HttpRequest, public_id: str) -> HttpResponse:
    _admin_person(request, public_id)
    services.reactivate(request.user, _agency(request), public_id, ip=client_ip(request))
    messages.success(request, _("This person can sign in again."))
    return redirect("agency:person", public_id=public_id)


@require_POST
@role_required(*ADMIN)
def reset_two_factor(request: HttpRequest, public_id: str) -> HttpResponse:
    _admin_person(request, public_id)
    if services.reset_two_factor(request.user, _agency(request), public_id, ip=client_ip(request)):
        messages.success(
            request, _("Two-factor is reset: they set it up again at their next sign-in.")
        )
    else:
        messages.info(request, _("There was no two-factor set-up to reset."))
    return redirect("agency:person", public_id=public_id)


# --- teams -----------------------------------------------------------------------------------


@require_safe
@role_required(*SUPERVISOR_OR_ADMIN)
def teams(request: HttpRequest) -> HttpResponse:
    rows = []
    for team in visible_teams(request.user).order_by("name"):
        members = _members(team)
        rows.append({"team": team, **members})
    context = {"rows": rows, "can_edit": _is_admin(request), "form": TeamNameForm()}
    return render(request, "agency/teams.html", context)


def _members(team) -> dict[str, list[User]]:
    people = [
        link.user
        for link in TeamMembership.objects.filter(agency=team.agency_id, team=team)
        .select_related("user__membership")
        .order_by("user__username")
    ]
    return {
        "supervisors": [p for p in people if p.membership.role == Role.SUPERVISOR],
        "members": [p for p in people if p.membership.role != Role.SUPERVISOR],
    }


@require_POST
@role_required(*ADMIN)
def create_team(request: HttpRequest) -> HttpResponse:
    form = TeamNameForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            team = services.create_team(
                request.user, _agency(request), form.cleaned_data["name"], ip=client_ip(request)
            )
        except services.PeopleError as problem:
            error = str(problem)
        else:
            messages.success(request, _("The team is created."))
            return redirect("agency:team", public_id=team.public_id)
    rows = [
        {"team": team, **_members(team)} for team in visible_teams(request.user).order_by("name")
    ]
    context = {"rows": rows, "can_edit": True, "form": form, "error": error}
    return render(request, "agency/teams.html", context, status=400)


def _team_page(request: HttpRequest, team, *, status=200, forms=None, error="") -> HttpResponse:
    forms = forms or {}
    can_edit = _is_admin(request)
    members = _members(team)
    context = {"team": team, **members, "can_edit": can_edit, "error": error}
    if can_edit:
        inside = {p.pk for p in members["supervisors"] + members["members"]}
        candidates = [
            p
            for p in User.objects.filter(membership__agency=team.agency_id, is_active=True)
            .select_related("membership")
            .order_by("username")
            if p.pk not in inside
        ]
        context["name_form"] = forms.get("name") or TeamNameForm(initial={"name": team.name})
        context["member_form"] = forms.get("member") or TeamMemberForm(people=candidates)
    return render(request, "agency/team.html", context, status=status)


@require_safe
@role_required(*SUPERVISOR_OR_ADMIN)
def team(request: HttpRequest, public_id: str) -> HttpResponse:
    return _team_page(request, get_visible_team_or_404(request.user, public_id))


@require_POST
@role_required(*ADMIN)
def rename_team(request: HttpRequest, public_id: str) -> HttpResponse:
    found = get_visible_team_or_404(request.user, public_id)
    form = TeamNameForm(request.POST)
    if not form.is_valid():
        return _team_page(request, found, status=400, forms={"name": form})
    try:
        services.rename_team(
            request.user,
            _agency(request),
            public_id,
            form.cleaned_data["name"],
            ip=client_ip(request),
        )
    except services.PeopleError as error:
        return _team_page(request, found, status=400, forms={"name": form}, error=str(error))
    messages.success(request, _("The team is renamed."))
    return redirect("agency:team", public_id=public_id)


@require_POST
@role_required(*ADMIN)
def add_team_member(request: HttpRequest, public_id: str) -> HttpResponse:
    found = get_visible_team_or_404(request.user, public_id)
    agency = _agency(request)
    people = User.objects.filter(membership__agency=agency, is_active=True).select_related(
        "membership"
    )
    form = TeamMemberForm(request.POST, people=people)
    if not form.is_valid():
        return _team_page(request, found, status=400, forms={"member": form})
    services.add_to_team(
        request.user, agency, public_id, form.cleaned_data["person"], ip=client_ip(request)
    )
    messages.success(request, _("The team is saved."))
    return redirect("agency:team", public_id=public_id)


@require_POST
@role_required(*ADMIN)
def remove_team_member(request: HttpRequest, public_id: str, person_id: str) -> HttpResponse:
    get_visible_team_or_404(request.user, public_id)
    try:
        services.remove_from_team(
            request.user, _agency(request), public_id, person_id, ip=client_ip(request)
        )
    except services.NotInAgency:
        raise Http404 from None
    messages.success(request, _("The team is saved."))
    return redirect("agency:team", public_id=public_id)


# --- the invitee's side (no sign-in) ---------------------------------------------------------

UNUSABLE = {
    "invalid": gettext_lazy("This invitation link is not valid. Check that you copied all of it."),
    "expired": gettext_lazy(
        "This invitation has expired. Ask your agency admin to send a new one."
    ),
    "accepted": gettext_lazy(
        "This invitation was used already. Sign in with the username you chose."
    ),
    "revoked": gettext_lazy(
        "This invitation was withdrawn. Ask your agency admin to send a new one."
    ),
}


def _unusable(request: HttpRequest, reason: str) -> HttpResponse:
    status = 404 if reason == "invalid" else 410
    return render(
        request,
        "agency/invitation.html",
        {"problem": str(UNUSABLE[reason])},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Choose a username and password; two-factor comes next (required where the agency's
    policy asks it of the role, offered otherwise)."""
    try:
        invitation: Invitation = services.open_invitation(token)
    except services.InvitationUnusable as unusable:
        return _unusable(request, unusable.reason)
    if request.user.is_authenticated:
        context = {"invitation": invitation, "signed_in": True}
        return render(request, "agency/invitation.html", context)
    form = AcceptInvitationForm(request.POST or None, instance=User(email=invitation.email))
    if request.method == "POST" and form.is_valid():
        try:
            user = services.accept_invitation(
                token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                ip=client_ip(request),
            )
        except services.InvitationUnusable as unusable:
            return _unusable(request, unusable.reason)
        login(request, user, backend="alliance.accounts.backends.MemberBackend")
        messages.success(request, _("Welcome to Alliance. Set up two-factor sign-in next."))
        return redirect(f"{reverse('two_factor_setup')}?next=/")
    status = 400 if form.is_bound else 200
    context = {"invitation": invitation, "form": form}
    return render(request, "agency/invitation.html", context, status=status)


urlpatterns = [
    path("people/", people, name="people"),
    path("people/invite/", invite, name="invite"),
    path(
        "people/invitations/<str:public_id>/resend/",
        resend_invitation,
        name="resend_invitation",
    ),
    path(
        "people/invitations/<str:public_id>/revoke/",
        revoke_invitation,
        name="revoke_invitation",
    ),
    path("people/<str:public_id>/", person, name="person"),
    path("people/<str:public_id>/role/", set_role, name="set_role"),
    path("people/<str:public_id>/teams/", set_teams, name="set_teams"),
    path("people/<str:public_id>/deactivate/", deactivate, name="deactivate"),
    path("people/<str:public_id>/reactivate/", reactivate, name="reactivate"),
    path("people/<str:public_id>/two-factor/reset/", reset_two_factor, name="reset_two_factor"),
    path("teams/", teams, name="teams"),
    path("teams/new/", create_team, name="create_team"),
    path("teams/<str:public_id>/", team, name="team"),
    path("teams/<str:public_id>/rename/", rename_team, name="rename_team"),
    path("teams/<str:public_id>/members/", add_team_member, name="add_team_member"),
    path(
        "teams/<str:public_id>/members/<str:person_id>/remove/",
        remove_team_member,
        name="remove_team_member",
    ),
    path("join/<str:token>/", accept_invitation, name="accept_invitation"),
]
