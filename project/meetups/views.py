"""
The meetups pages. Thin: they check the form, call a flow, and turn a flow's refusal into a
message or a form error. Permissions live in the flows (only the recipient answers, only the
organizer edits, only invitees RSVP); the views also hide what a person may not see (404).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from project.meetups.errors import MeetupsError
from project.meetups.flows import match_requests as match_flows
from project.meetups.flows import meetups as meetup_flows
from project.meetups.flows import profiles as profile_flows
from project.meetups.forms import InviteForm, MatchRequestForm, MeetupForm, ProfileForm, RsvpForm
from project.meetups.models import Invitation, MatchRequest, Meetup, Profile, display_name_for, matched_users

User = get_user_model()


# --- People and profiles ----------------------------------------------------------------


def _relations(user) -> dict[int, tuple[str, MatchRequest]]:
    """For each person `user` has dealt with: matched, sent (pending), received (pending)."""
    relations: dict[int, tuple[str, MatchRequest]] = {}
    current = MatchRequest.objects.involving(user).filter(
        status__in=[MatchRequest.Status.PENDING, MatchRequest.Status.ACCEPTED]
    )
    for match_request in current:
        other = match_request.to_user_id if match_request.from_user_id == user.pk else match_request.from_user_id
        if match_request.status == MatchRequest.Status.ACCEPTED:
            relations[other] = ("matched", match_request)
        elif other not in relations:
            relations[other] = ("sent" if match_request.from_user_id == user.pk else "received", match_request)
    return relations


@login_required
def people(request):
    profile = Profile.for_user(request.user)
    relations = _relations(request.user)
    listed = (
        Profile.objects.filter(discoverable=True)
        .exclude(user=request.user)
        .select_related("user", "user__telegram_account")
        .order_by("-updated_at", "pk")
    )
    # Whom this person may not ask again yet (they declined lately), and from when they may.
    wait_until = match_flows.may_ask_again_from(request.user)
    entries = []
    for other in listed:
        relation, match_request = relations.get(other.user_id, (None, None))
        until = wait_until.get(other.user_id) if relation is None else None
        entries.append({"profile": other, "relation": relation or ("declined" if until else None),
                        "match_request": match_request, "ask_again_from": until})
    return render(
        request,
        "meetups/people.html",
        {"profile": profile, "profile_form": ProfileForm(instance=profile), "entries": entries,
         "request_form": MatchRequestForm()},
    )


@login_required
def profile(request):
    profile = Profile.for_user(request.user)
    form = ProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        profile = profile_flows.update_profile(request.user, **form.cleaned_data)
        if profile.discoverable:
            messages.success(request, "Saved. Other people can find you on this page now.")
        else:
            messages.success(request, "Saved. You are not listed; nobody can send you new match requests.")
        return redirect("meetups:people")
    return render(request, "meetups/profile.html", {"form": form})


@login_required
def send_request(request, user_id: int):
    # Only discoverable people have a request page; others do not show they exist.
    target = get_object_or_404(Profile.objects.select_related("user"), user_id=user_id, discoverable=True)
    if target.user_id == request.user.pk:
        raise Http404
    form = MatchRequestForm(request.POST or None)
    # After a decline the page says from when asking again is possible, and offers no form.
    ask_again_from = match_flows.may_ask_again_from(request.user, to_user=target.user).get(target.user_id)
    if request.method == "POST" and form.is_valid():
        try:
            match_flows.send_match_request(request.user, target.user, form.cleaned_data["message"])
        except MeetupsError as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, f"Request sent to {target.name}. You will hear when they answer.")
            return redirect("meetups:requests")
    return render(request, "meetups/send_request.html", {"target": target, "form": form, "ask_again_from": ask_again_from})


# --- Requests ----------------------------------------------------------------------------


@login_required
def requests(request):
    mine = MatchRequest.objects.involving(request.user).select_related(
        "from_user__meetups_profile", "to_user__meetups_profile"
    )
    pending = MatchRequest.Status.PENDING
    matches = matched_users(request.user).select_related("meetups_profile").order_by("pk")
    return render(
        request,
        "meetups/requests.html",
        {
            "received": mine.filter(to_user=request.user, status=pending),
            "sent": mine.filter(from_user=request.user, status=pending),
            "history": mine.exclude(status=pending)[:50],
            "matches": matches,
        },
    )


@login_required
@require_POST
def answer_request(request, request_id: int):
    answer = request.POST.get("answer")
    if answer not in ("accept", "decline"):
        messages.error(request, "Choose accept or decline.")
        return redirect("meetups:requests")
    try:
        match_request = match_flows.answer_match_request(request_id, request.user, accept=answer == "accept")
    except MatchRequest.DoesNotExist:
        raise Http404 from None
    except match_flows.NotYourRequest:
        raise Http404 from None  # someone else's request: do not confirm it exists
    except MeetupsError as refusal:
        messages.error(request, refusal.message)
    else:
        name = display_name_for(match_request.from_user)
        if match_request.status == MatchRequest.Status.ACCEPTED:
            messages.success(request, f"You are matched with {name}. Invite them to a meetup!")
        else:
            messages.success(request, f"You declined {name}'s request.")
    return redirect("meetups:requests")


@login_required
@require_POST
def withdraw_request(request, request_id: int):
    try:
        match_flows.withdraw_match_request(request_id, request.user)
    except (MatchRequest.DoesNotExist, match_flows.NotYourRequest):
        raise Http404 from None
    except MeetupsError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, "Request withdrawn.")
    return redirect("meetups:requests")


# --- Meetups -----------------------------------------------------------------------------


def _invitable(meetup_or_none, user):
    people = matched_users(user).select_related("meetups_profile").order_by("pk")
    if meetup_or_none is not None:
        people = people.exclude(meetup_invitations__meetup=meetup_or_none)
    return people


@login_required
def meetups(request):
    now = timezone.now()
    organized = Meetup.objects.filter(organizer=request.user).annotate(
        invited_count=Count("invitations"),
        going_count=Count("invitations", filter=Q(invitations__rsvp=Invitation.Rsvp.YES)),
    )
    invitations = Invitation.objects.filter(invitee=request.user).select_related(
        "meetup", "meetup__organizer__meetups_profile"
    )
    upcoming = Q(meetup__status=Meetup.Status.SCHEDULED, meetup__starts_at__gt=now)
    return render(
        request,
        "meetups/meetups.html",
        {
            "organizing": organized.filter(status=Meetup.Status.SCHEDULED, starts_at__gt=now),
            "invited": invitations.filter(upcoming).order_by("meetup__starts_at"),
            "past_organized": organized.exclude(status=Meetup.Status.SCHEDULED, starts_at__gt=now).order_by(
                "-starts_at"
            )[:20],
            "past_invited": invitations.exclude(upcoming).order_by("-meetup__starts_at")[:20],
            "has_matches": matched_users(request.user).exists(),
        },
    )


@login_required
def create_meetup(request):
    invitable = _invitable(None, request.user)
    form = MeetupForm(request.POST or None, invitable=invitable)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            meetup = meetup_flows.schedule_meetup(
                request.user, title=data["title"], starts_at=data["starts_at"], place=data["place"],
                notes=data["notes"], invitees=data.get("invitees") or [],
            )
        except MeetupsError as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, "Meetup scheduled." + (" Invitations sent." if data.get("invitees") else ""))
            return redirect(meetup)
    return render(request, "meetups/meetup_form.html", {"form": form, "meetup": None, "has_matches": invitable.exists()})


def _visible_meetup(request, meetup_id: int) -> Meetup:
    return get_object_or_404(
        Meetup.objects.visible_to(request.user).select_related("organizer__meetups_profile"), pk=meetup_id
    )


@login_required
def meetup_detail(request, meetup_id: int):
    meetup = _visible_meetup(request, meetup_id)
    is_organizer = meetup.organizer_id == request.user.pk
    invitations = meetup.invitations.select_related("invitee__meetups_profile")
    my_invitation = next((i for i in invitations if i.invitee_id == request.user.pk), None)
    context = {
        "meetup": meetup,
        "is_organizer": is_organizer,
        "invitations": invitations,
        "my_invitation": my_invitation,
        "rsvp_choices": [c for c in Invitation.Rsvp.choices if c[0] != Invitation.Rsvp.PENDING],
        "counts": {
            value: sum(1 for i in invitations if i.rsvp == value) for value, _ in Invitation.Rsvp.choices
        },
    }
    if is_organizer and meetup.is_open:
        invitable = _invitable(meetup, request.user)
        context["invite_form"] = InviteForm(invitable=invitable)
        context["has_invitable"] = invitable.exists()
    return render(request, "meetups/meetup_detail.html", context)


@login_required
def edit_meetup(request, meetup_id: int):
    meetup = _visible_meetup(request, meetup_id)
    if meetup.organizer_id != request.user.pk:
        raise Http404
    if not meetup.is_open:
        messages.error(request, meetup_flows.MeetupClosed(meetup).message)
        return redirect(meetup)
    form = MeetupForm(request.POST or None, instance=Meetup.objects.get(pk=meetup.pk))
    if request.method == "POST" and form.is_valid():
        try:
            meetup_flows.change_meetup(meetup.pk, request.user, **{f: form.cleaned_data[f] for f in meetup_flows.CHANGEABLE_FIELDS})
        except MeetupsError as refusal:
            form.add_error(None, refusal.message)
        else:
            if form.has_changed():
                messages.success(request, "Meetup changed. Everyone invited has been told.")
            return redirect(meetup)
    return render(request, "meetups/meetup_form.html", {"form": form, "meetup": meetup})


@login_required
@require_POST
def cancel_meetup(request, meetup_id: int):
    meetup = _visible_meetup(request, meetup_id)
    try:
        meetup_flows.cancel_meetup(meetup.pk, request.user)
    except meetup_flows.NotOrganizer:
        raise Http404 from None
    except MeetupsError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, "Meetup cancelled. Everyone invited has been told.")
    return redirect(meetup)


@login_required
@require_POST
def invite(request, meetup_id: int):
    meetup = _visible_meetup(request, meetup_id)
    if meetup.organizer_id != request.user.pk:
        raise Http404
    form = InviteForm(request.POST, invitable=_invitable(meetup, request.user))
    if not form.is_valid():
        messages.error(request, "Choose at least one person you are matched with and not yet invited.")
        return redirect(meetup)
    try:
        created = meetup_flows.invite(meetup.pk, request.user, form.cleaned_data["invitees"])
    except MeetupsError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Invited {len(created)} {'person' if len(created) == 1 else 'people'}.")
    return redirect(meetup)


@login_required
@require_POST
def rsvp(request, meetup_id: int):
    meetup = _visible_meetup(request, meetup_id)
    form = RsvpForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Answer yes, no or maybe.")
        return redirect(meetup)
    try:
        invitation = meetup_flows.rsvp(meetup.pk, request.user, form.cleaned_data["answer"])
    except meetup_flows.NotInvited:
        messages.error(request, "Only invited people answer; you organize this one.")
    except MeetupsError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"Your answer: {invitation.get_rsvp_display().lower()}.")
    return redirect(meetup)
