from .roles import is_agency_user, is_partner_user


def roles(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"is_agency_user": False, "is_partner_user": False}
    return {"is_agency_user": is_agency_user(user), "is_partner_user": is_partner_user(user)}
