"""Session engine (SESSION_ENGINE = "accounts.sessions"): Django's database sessions, plus
the user id in an indexed column, so a user's sessions can be ended without decoding every
row. Ended when the account is deactivated or its password changes (accounts/security.py).
"""

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore

from .models import UserSession


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls):
        return UserSession

    def create_model_instance(self, data):
        instance = super().create_model_instance(data)
        try:
            instance.user_id = int(data.get(SESSION_KEY))
        except (TypeError, ValueError):
            instance.user_id = None
        return instance


def end_sessions_of(user_id) -> int:
    """Delete every session of a user; the next request with one of them is anonymous."""
    deleted, _ = UserSession.objects.filter(user_id=user_id).delete()
    return deleted
