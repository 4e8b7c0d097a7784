from django import forms
from django.contrib.auth import get_user_model

from project.bot.flows.support import MAX_REPLY_LENGTH


class ReplyForm(forms.Form):
    text = forms.CharField(
        label="Reply",
        max_length=MAX_REPLY_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Sent to the person in Telegram, as plain text.",
    )

    def clean_text(self):
        text = self.cleaned_data["text"]
        # Telegram measures in UTF-16 code units: 4096 emoji are 8192 of them.
        if len(text.encode("utf-16-le")) // 2 > MAX_REPLY_LENGTH:
            raise forms.ValidationError(
                f"Telegram takes at most {MAX_REPLY_LENGTH} characters in one message (an emoji counts as two)."
            )
        return text


class ConversationForm(forms.Form):
    """Assign the conversation and open or close it."""

    assignee = forms.ModelChoiceField(queryset=None, required=False, label="Assigned to", empty_label="Nobody")
    status = forms.ChoiceField(label="Status", choices=[("open", "Open"), ("closed", "Closed")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = get_user_model().objects.filter(is_staff=True, is_active=True).order_by(
            "username"
        )
        self.fields["assignee"].label_from_instance = lambda user: user.display_name  # C4
