"""The one signal of the case services.

`case_needs_partner` is sent inside the transaction that referred a case to Third-Party
when no partner agent is on its team yet; the Assignment Manager (`cases.routing`) answers
it by routing the case in that same transaction. The routing module imports the services,
so the services announce the need instead of importing routing back.
"""

from django.dispatch import Signal

# Arguments: case (locked by the sender's transaction), actor.
case_needs_partner = Signal()
