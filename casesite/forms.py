"""Form helpers shared by every app: USWDS classes on Django widgets."""

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join

_WIDGET_CLASSES = {
    forms.Select: "usa-select",
    forms.SelectMultiple: "usa-select",
    forms.Textarea: "usa-textarea",
    forms.CheckboxInput: "usa-checkbox__input",
    forms.ClearableFileInput: "usa-file-input",
    forms.FileInput: "usa-file-input",
}


class PlainSelect(forms.Select):
    """A single-choice <select> written out in one pass instead of one template per option.

    Django renders every option through a template; a filter listing every agency user
    (hundreds in a large agency) spent most of the Cases List's time there. Same markup,
    same attributes, the chosen value selected; no option groups."""

    def render(self, name, value, attrs=None, renderer=None):
        chosen = {str(v) for v in self.format_value(value)}
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (option_value, " selected" if str(option_value) in chosen else "", label)
                for option_value, label in self.choices
            ),
        )
        attributes = flatatt(self.build_attrs(self.attrs, attrs))
        return format_html('<select name="{}"{}>{}</select>', name, attributes, options)


class UswdsFormMixin:
    """Adds the USWDS class for each widget, and marks invalid fields for screen readers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            css = next(
                (c for kind, c in _WIDGET_CLASSES.items() if isinstance(widget, kind)),
                "usa-input",
            )
            if isinstance(widget, forms.CheckboxSelectMultiple | forms.RadioSelect):
                continue
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def full_clean(self):
        super().full_clean()
        for name, errors in self.errors.items():
            if name not in self.fields:
                continue
            # Screen readers announce the field's hint and its errors (the ids the field
            # template writes) when the field takes focus.
            auto_id = self[name].auto_id
            described = [f"{auto_id}_error_{n}" for n in range(1, len(errors) + 1)]
            if self.fields[name].help_text:
                described.insert(0, f"{auto_id}_helptext")
            attrs = self.fields[name].widget.attrs
            attrs["aria-invalid"] = "true"
            attrs["aria-describedby"] = " ".join(described)
