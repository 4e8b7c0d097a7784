from django.contrib import admin

from project.meetups.models import Invitation, MatchRequest, Meetup, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "display_name", "discoverable", "updated_at"]
    list_filter = ["discoverable"]
    search_fields = ["display_name", "user__email", "user__username"]
    raw_id_fields = ["user"]


@admin.register(MatchRequest)
class MatchRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "from_user", "to_user", "status", "created_at", "answered_at"]
    list_filter = ["status"]
    search_fields = ["from_user__email", "to_user__email", "message"]
    raw_id_fields = ["from_user", "to_user"]
    date_hierarchy = "created_at"


class InvitationInline(admin.TabularInline):
    model = Invitation
    extra = 0
    raw_id_fields = ["invitee"]
    readonly_fields = ["invited_at", "responded_at"]


@admin.register(Meetup)
class MeetupAdmin(admin.ModelAdmin):
    list_display = ["title", "organizer", "starts_at", "place", "status"]
    list_filter = ["status"]
    search_fields = ["title", "place", "organizer__email"]
    raw_id_fields = ["organizer"]
    date_hierarchy = "starts_at"
    inlines = [InvitationInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["meetup", "invitee", "rsvp", "invited_at", "responded_at"]
    list_filter = ["rsvp"]
    raw_id_fields = ["meetup", "invitee"]
