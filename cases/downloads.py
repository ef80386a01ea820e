"""Serving an attachment: the only way a stored file ever leaves the server."""

from django.http import FileResponse, Http404

from . import services
from .models import Attachment


def attachment_response(*, actor, attachment: Attachment) -> FileResponse:
    """Stream the file as a download with a server-chosen, safely encoded name.

    The caller has already looked the attachment up inside what `actor` may see."""
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise Http404 from exc
    services.attachment_downloaded(actor=actor, attachment=attachment)
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
