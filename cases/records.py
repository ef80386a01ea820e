"""The kinds of case record, declared once: Activities, Attachments, Service Requests, Notes.

Each kind is a tab of the case page (agency and Partner Portal), a model of this app, the
fields its author enters and may correct, the object permission that opens its tab to a
partner agent, the agency's form and the template of its rows. Everything else reads this
table: the models' tab permissions, the services, the selectors, both case pages, the Case
Team's tab choices and the role permissions. A fifth kind is one row here, its model, its
form and its template (and, if partner agents add it too, the portal's form).

Models and forms are named, not imported, so that this module can be read by the models
themselves; `RecordKind.model` and `RecordKind.form` resolve them on first use.
"""

from dataclasses import dataclass
from functools import cached_property

from django.apps import apps
from django.db import models
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class RecordKind:
    slug: str  # the tab's URL segment, and the kind's key everywhere ("servicerequests")
    label: str  # the tab ("Service Requests")
    singular: str  # one record ("Service Request")
    model_name: str  # a model of the cases app
    fields: tuple[str, ...]  # what its author enters and may correct (sharing aside)
    form: str  # the agency's form, a dotted path
    template: str  # the rows of its tab on the agency's case page

    @property
    def add_label(self) -> str:
        """The add form's title: "Add an Activity", "Add a Note"."""
        article = "an" if self.singular[0] in "AEIOU" else "a"
        return f"Add {article} {self.singular}"

    @property
    def permission(self) -> str:
        """The object permission (on the case) that opens this tab to a partner agent."""
        return f"view_case_{self.slug}"

    @property
    def permission_declaration(self) -> tuple[str, str]:
        return (self.permission, f"Can view the {self.label} tab")

    @cached_property
    def model(self) -> type[models.Model]:
        return apps.get_model("cases", self.model_name)

    @cached_property
    def form_class(self) -> type:
        return import_string(self.form)

    def model_permission(self, action: str) -> str:
        """The model-level permission of an action on this kind ("cases.add_note")."""
        return f"cases.{action}_{self.model_name.lower()}"


RECORD_KINDS = (
    RecordKind(
        slug="activities",
        label="Activities",
        singular="Activity",
        model_name="Activity",
        fields=("type", "subject", "description", "due_date", "status"),
        form="cases.forms.ActivityForm",
        template="cases/includes/records_activities.html",
    ),
    RecordKind(
        slug="attachments",
        label="Attachments",
        singular="Attachment",
        model_name="Attachment",
        fields=("description",),
        form="cases.forms.AttachmentForm",
        template="cases/includes/records_attachments.html",
    ),
    RecordKind(
        slug="servicerequests",
        label="Service Requests",
        singular="Service Request",
        model_name="ServiceRequest",
        fields=("title", "description", "status", "priority"),
        form="cases.forms.ServiceRequestForm",
        template="cases/includes/records_servicerequests.html",
    ),
    RecordKind(
        slug="notes",
        label="Notes",
        singular="Note",
        model_name="Note",
        fields=("body",),
        form="cases.forms.NoteForm",
        template="cases/includes/records_notes.html",
    ),
)
KINDS = {kind.slug: kind for kind in RECORD_KINDS}

# The tabs a partner agent may be authorized to open (besides the case details): one per kind.
Tab = models.TextChoices(
    "Tab", [(kind.slug.upper(), (kind.slug, kind.label)) for kind in RECORD_KINDS]
)


def kind_of(record: models.Model) -> RecordKind:
    """The kind of a record instance."""
    return next(kind for kind in RECORD_KINDS if isinstance(record, kind.model))
