"""PlainSelect writes the same <select> as Django's Select, only faster."""

import pytest
from django import forms
from django.test.html import parse_html

from casesite.forms import PlainSelect

CHOICES = [("", "Any"), ("a", 'A & <b>"quoted"</b>'), ("1", "One")]
ATTRS = {"class": "usa-select cw-filter-control", "aria-invalid": "true"}


@pytest.mark.parametrize("value", [None, "", "a", "1", 1, "not-a-choice"])
def test_plain_select_renders_what_django_select_renders(value):
    render_attrs = {"id": "id_f", "required": False}
    django_html = forms.Select(attrs=ATTRS, choices=CHOICES).render("f", value, render_attrs)
    plain_html = PlainSelect(attrs=ATTRS, choices=CHOICES).render("f", value, render_attrs)
    assert parse_html(plain_html) == parse_html(django_html)


def test_plain_select_escapes_labels_and_values():
    html = PlainSelect(choices=[('"><script>x</script>', "<img src=x onerror=alert(1)>")]).render(
        "f", None
    )
    assert "<script>" not in html and "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
