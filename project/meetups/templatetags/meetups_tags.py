from django import template

from project.meetups.models import display_name_for

register = template.Library()


@register.filter
def display_name(user) -> str:
    """A person's name as other people see it (never their email address)."""
    return display_name_for(user) if user else ""
