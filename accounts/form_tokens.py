"""One-time form tokens: a form that creates something has one effect, however many times
it is submitted (a double click, a reload that posts again, the back button).

Each rendering of such a form carries a new random token (`{% form_token %}`, from
accounts/templatetags/form_tokens.py). The view claims the token before it creates
anything; a token this session has already claimed means "submitted before", and the view
answers with where the first submission led instead of creating a second record. The token
is not a secret (CSRF protection is Django's): a forged one only dedupes its own sender.

A POST without a token (a script, an old tab) is let through, as before.
"""

import secrets

from django.db import transaction

FIELD = "form_token"
SESSION_KEY = "cw_form_tokens"
KEEP = 100  # the most recent submissions remembered per session


def new_token() -> str:
    return secrets.token_urlsafe(16)


def claim(request) -> str | None:
    """Claim the posted form's token. None: go ahead (first submission, or no token).
    Otherwise the form was submitted before: where that submission led ("" if unknown).

    The session row is locked while the token is checked and recorded, so of two
    submissions in flight at once exactly one goes ahead (on PostgreSQL)."""
    token = request.POST.get(FIELD, "")[:64]
    session = request.session
    if not token:
        return None
    with transaction.atomic():
        row = None
        model = getattr(session, "model", None)  # database sessions: lock the row
        if model is not None and session.session_key:
            row = model.objects.select_for_update().filter(session_key=session.session_key)
            row = row.first()
        stored = session.decode(row.session_data) if row is not None else dict(session.items())
        tokens = dict(stored.get(SESSION_KEY, {}))
        if token in tokens:
            session[SESSION_KEY] = tokens
            return tokens[token]
        tokens[token] = ""
        tokens = dict(list(tokens.items())[-KEEP:])
        if row is not None:
            row.session_data = session.encode({**stored, SESSION_KEY: tokens})
            row.save(update_fields=["session_data"])
    session[SESSION_KEY] = tokens
    return None


def settle(request, url: str) -> None:
    """Remember where the claimed submission led, for a later duplicate to go there too."""
    token = request.POST.get(FIELD, "")[:64]
    tokens = dict(request.session.get(SESSION_KEY, {}))
    if token in tokens:
        tokens[token] = url
        request.session[SESSION_KEY] = tokens
