"""The forms of sign-in and password change, in the USWDS look of every form."""

from django.contrib.auth.forms import PasswordChangeForm

from casesite.forms import UswdsFormMixin


class UswdsPasswordChangeForm(UswdsFormMixin, PasswordChangeForm):
    pass
