"""The site's WSGI application for the killed-worker test: granting a partner agent's case
permissions is followed by a pause (FAULT_PAUSE seconds), so the test can kill the worker
while a case team change is half done inside its transaction."""

import os
import time

from casesite.wsgi import application  # sets Django up before the models are imported


def _pause_after_grants() -> None:
    from cases import permissions

    grant = permissions.grant_partner_agent
    pause = float(os.environ.get("FAULT_PAUSE", "0.5"))

    def grant_then_pause(**kwargs):
        grant(**kwargs)
        time.sleep(pause)

    permissions.grant_partner_agent = grant_then_pause


_pause_after_grants()
__all__ = ["application"]
