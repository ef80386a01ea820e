"""How Caseworks names a person in text it writes: events, messages, emails, choices."""


def display_name(user) -> str:
    """The user's full name, or their user name when they have none."""
    return user.get_full_name() or user.get_username()
