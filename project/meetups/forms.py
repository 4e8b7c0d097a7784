from django import forms
from django.utils import timezone

from project.meetups.models import Invitation, MatchRequest, Meetup, Profile, display_name_for


class NoColonLabels:
    """Labels read "Title", not "Title:", like the rest of the site's forms."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ProfileForm(NoColonLabels, forms.ModelForm):
    class Meta:
        model = Profile
        fields = ["display_name", "bio", "discoverable"]
        widgets = {"bio": forms.Textarea(attrs={"rows": 3, "maxlength": 280})}
        labels = {"discoverable": "Let other people find me and send me match requests"}


class MatchRequestForm(NoColonLabels, forms.Form):
    message = forms.CharField(
        label="Message",
        required=False,
        max_length=MatchRequest.MESSAGE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": MatchRequest.MESSAGE_MAX_LENGTH}),
        help_text=f"Optional; say hello in up to {MatchRequest.MESSAGE_MAX_LENGTH} characters.",
    )


class UserChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, user):
        return display_name_for(user)


class MeetupForm(NoColonLabels, forms.ModelForm):
    starts_at = forms.DateTimeField(
        label="Starts at",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Times are in %s." % timezone.get_default_timezone_name(),
    )

    class Meta:
        model = Meetup
        fields = ["title", "starts_at", "place", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 4})}
        help_texts = {"notes": "Optional: what to bring, how to find each other."}

    def __init__(self, *args, invitable=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Only a new meetup offers invitees here; an existing one has its own invite form.
        if invitable is not None:
            self.fields["invitees"] = UserChoiceField(
                queryset=invitable,
                required=False,
                widget=forms.CheckboxSelectMultiple,
                label="Invite",
                help_text="People you are matched with. You can invite more later.",
            )

    def clean_starts_at(self):
        starts_at = self.cleaned_data["starts_at"]
        if starts_at <= timezone.now():
            raise forms.ValidationError("Pick a time in the future.")
        return starts_at


class InviteForm(NoColonLabels, forms.Form):
    invitees = UserChoiceField(
        queryset=None, widget=forms.CheckboxSelectMultiple, label="Invite people you are matched with"
    )

    def __init__(self, *args, invitable, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["invitees"].queryset = invitable


class RsvpForm(forms.Form):
    answer = forms.ChoiceField(
        choices=[(value, label) for value, label in Invitation.Rsvp.choices if value != Invitation.Rsvp.PENDING]
    )
