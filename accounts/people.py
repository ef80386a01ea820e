"""How Caseworks names a person in text it writes: events, messages, emails, choices."""


def name_of(first_name: str, last_name: str, username: str) -> str:
    """The full name, or the user name when there is none (for rows read without a user)."""
    return f"{first_name} {last_name}".strip() or username


def display_name(user) -> str:
    """The user's full name, or their user name when they have none."""
    return name_of(user.first_name, user.last_name, user.get_username())
