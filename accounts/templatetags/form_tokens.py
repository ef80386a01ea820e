"""`{% form_token %}`: the hidden one-time token of a form that creates something (see
accounts/form_tokens.py). Put it next to `{% csrf_token %}`."""

from django import template
from django.utils.html import format_html

from accounts.form_tokens import FIELD, new_token

register = template.Library()


@register.simple_tag
def form_token() -> str:
    return format_html('<input type="hidden" name="{}" value="{}">', FIELD, new_token())
