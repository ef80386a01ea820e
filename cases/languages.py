"""The case languages of the agency and their names, for forms, pages and routing."""

from django.conf.locale import LANG_INFO

# Django's list lacks some of them (Haitian Creole), so the agency keeps its own.
LANGUAGES = (
    ("en", "English"),
    ("es", "Spanish"),
    ("zh", "Chinese"),
    ("vi", "Vietnamese"),
    ("ko", "Korean"),
    ("ru", "Russian"),
    ("ar", "Arabic"),
    ("ht", "Haitian Creole"),
    ("fr", "French"),
    ("pt", "Portuguese"),
)
_NAMES = dict(LANGUAGES)


def language_name(code: str) -> str:
    """'es' -> 'Spanish'; a code nobody knows is shown as it is."""
    code = (code or "").lower()
    return _NAMES.get(code) or LANG_INFO.get(code, {}).get("name", code)
