"""Two-step verification (TOTP, django-otp) after the password.

Who must use it is a setting, `MFA_REQUIRED_FOR` (roles "agency", "admin", "partner";
production default "agency,admin"). Whoever set it up is asked for a code too, required or
not. After the password, MFARequiredMiddleware sends such a user here: to enrolment (QR code
and secret, confirmed with a first code) when they have no confirmed device, to the code
prompt otherwise. Until a code is accepted, every other page redirects here.

A code is accepted once: django-otp's TOTPDevice keeps the last time step used (`last_t`) and
refuses it and older ones; the device row is locked while a code is checked, so two requests
cannot both spend the same code. Wrong codes are throttled by django-otp (exponential delay).
"""

import base64
import io

import django_otp
import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.dispatch import receiver
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice

from casesite.forms import UswdsFormMixin

from .models import SecurityEvent
from .roles import is_agency_user, is_partner_user
from .security import SESSION_MFA_PENDING, record

MFA_ROLES = ("agency", "admin", "partner")
DEVICE_NAME = "Authenticator app"


def mfa_roles_of(user) -> set[str]:
    """The MFA roles a user counts as: admin (staff or superuser), agency, partner."""
    roles = set()
    if user.is_staff or user.is_superuser:
        roles.add("admin")
    if is_partner_user(user):
        roles.add("partner")
    elif is_agency_user(user):
        roles.add("agency")
    return roles


def mfa_required(user) -> bool:
    """Must this user pass two-step verification (by MFA_REQUIRED_FOR)?"""
    required = set(settings.MFA_REQUIRED_FOR)
    if not required or not user.is_authenticated:
        return False
    return bool(mfa_roles_of(user) & required)


def has_confirmed_device(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


@receiver(user_logged_in, dispatch_uid="caseworks_mfa_logged_in")
def ask_for_a_code_at_sign_in(sender, request, user, **kwargs):
    """Whoever set up two-step verification is asked for a code, required or not."""
    session = getattr(request, "session", None) if request is not None else None
    if session is not None and has_confirmed_device(user):
        session[SESSION_MFA_PENDING] = True


def mfa_pending(request) -> bool:
    """Signed in with a password, still owing a code (cheap when MFA is off: no query)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    owes = request.session.get(SESSION_MFA_PENDING) or mfa_required(user)
    return bool(owes) and not user.is_verified()


class CodeForm(UswdsFormMixin, forms.Form):
    code = forms.CharField(
        label="Six-digit code from your authenticator app",
        max_length=6,
        min_length=6,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9]{6}",
                "autofocus": True,
                "spellcheck": "false",
            }
        ),
    )

    def clean_code(self):
        code = self.cleaned_data["code"].replace(" ", "")
        if not code.isdigit():
            raise forms.ValidationError("Enter the six digits shown in your app.")
        return code


def _next_url(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url("home")


def _layout(user) -> str:
    return "portal/base.html" if is_partner_user(user) else "cases/base.html"


def _check_code(device: TOTPDevice, code: str) -> bool:
    """Verify a code with the device row locked: a code is spent at most once."""
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        return locked.verify_token(code)


def _verified(request, device: TOTPDevice, kind: str):
    django_otp.login(request, device)
    request.session.pop(SESSION_MFA_PENDING, None)
    # A new privilege level gets a new session id.
    request.session.cycle_key()
    record(kind, request=request, device=device.persistent_id)
    return redirect(_next_url(request))


def qr_code_data_uri(text: str) -> str:
    """An SVG QR code as a data URI (generated here; nothing is sent to a third party)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def secret_for_display(device: TOTPDevice) -> str:
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@require_http_methods(["GET", "POST"])
def mfa_verify(request):
    """Ask a user with a confirmed device for the current code."""
    user = request.user
    if user.is_verified():
        return redirect(_next_url(request))
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None:
        return redirect(f"{resolve_url('mfa_setup')}?{request.GET.urlencode()}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _check_code(device, form.cleaned_data["code"]):
            return _verified(request, device, SecurityEvent.Kind.MFA_VERIFIED)
        record(SecurityEvent.Kind.MFA_FAILED, request=request, step="verify")
        allowed, _ = device.verify_is_allowed()
        form.add_error(
            "code",
            "That code is not right or was already used. Wait for the next code and try again."
            if allowed
            else "Too many wrong codes. Wait a minute, then enter the newest code.",
        )
    context = {"form": form, "next": _next_url(request), "layout": _layout(user)}
    return render(request, "registration/mfa_verify.html", context)


@require_http_methods(["GET", "POST"])
def mfa_setup(request):
    """Enrol an authenticator app: show the QR code and secret, confirm with one code.

    Only for a user without a confirmed device: otherwise whoever knew the password could
    replace the second factor."""
    user = request.user
    if has_confirmed_device(user):
        target = _next_url(request) if user.is_verified() else resolve_url("mfa_verify")
        return redirect(target)
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _check_code(device, form.cleaned_data["code"]):
            device.refresh_from_db()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            return _verified(request, device, SecurityEvent.Kind.MFA_ENROLLED)
        record(SecurityEvent.Kind.MFA_FAILED, request=request, step="setup")
        form.add_error("code", "That code is not right. Check the time on your phone and retry.")
    context = {
        "form": form,
        "next": _next_url(request),
        "layout": _layout(user),
        "qr_code": qr_code_data_uri(device.config_url),
        "secret": secret_for_display(device),
        "required": mfa_required(user),
    }
    return render(request, "registration/mfa_setup.html", context)
