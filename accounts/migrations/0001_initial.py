"""The security log and the session models, taken over from the casesite app with their
tables (casesite 0005): Django's state only, then the content types (and so the admin
permissions) renamed, then the append-only trigger installed under this model's name."""

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.conf import settings
from django.db import migrations, models


MODELS = ("securityevent", "usersession")


def _move_content_types(apps, source: str, target: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label=target, model=model).exists():
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)


def take_over_content_types(apps, schema_editor):
    _move_content_types(apps, "casesite", "accounts")


def give_back_content_types(apps, schema_editor):
    _move_content_types(apps, "accounts", "casesite")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("casesite", "0005_models_move_to_accounts"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="UserSession",
                    fields=[
                        (
                            "session_key",
                            models.CharField(
                                max_length=40,
                                primary_key=True,
                                serialize=False,
                                verbose_name="session key",
                            ),
                        ),
                        ("session_data", models.TextField(verbose_name="session data")),
                        (
                            "expire_date",
                            models.DateTimeField(db_index=True, verbose_name="expire date"),
                        ),
                        ("user_id", models.BigIntegerField(db_index=True, null=True)),
                    ],
                    options={
                        "verbose_name": "session",
                        "db_table": "casesite_usersession",
                    },
                ),
                migrations.CreateModel(
                    name="SecurityEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("sign_in", "Signed in"),
                                    ("sign_in_failed", "Sign-in failed"),
                                    ("locked_out", "Locked out"),
                                    ("sign_out", "Signed out"),
                                    ("session_expired", "Session timed out"),
                                    ("password_changed", "Password changed"),
                                    ("user_deactivated", "Account deactivated"),
                                    ("mfa_enrolled", "Set up two-step verification"),
                                    ("mfa_verified", "Passed two-step verification"),
                                    ("mfa_failed", "Failed two-step verification"),
                                    ("access_denied", "Denied access"),
                                    ("download", "Downloaded an attachment"),
                                    ("transition", "Changed a case status"),
                                    ("csrf_refused", "Form refused (CSRF check failed)"),
                                ],
                                max_length=20,
                            ),
                        ),
                        (
                            "username",
                            models.CharField(
                                blank=True,
                                help_text="The user name given, even if no such user exists.",
                                max_length=150,
                            ),
                        ),
                        (
                            "ip",
                            models.GenericIPAddressField(
                                blank=True, null=True, verbose_name="IP address"
                            ),
                        ),
                        ("path", models.CharField(blank=True, max_length=255)),
                        ("request_id", models.CharField(blank=True, max_length=64)),
                        ("data", models.JSONField(blank=True, default=dict)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        (
                            "user",
                            models.ForeignKey(
                                blank=True,
                                help_text="The signed-in user, when there is one.",
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "casesite_securityevent",
                        "ordering": ["-created_at", "-pk"],
                        "indexes": [
                            models.Index(fields=["kind", "-created_at"], name="securityevent_kind"),
                            models.Index(fields=["user", "-created_at"], name="securityevent_user"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(take_over_content_types, give_back_content_types),
        pgtrigger.migrations.AddTrigger(
            model_name="securityevent",
            trigger=pgtrigger.compiler.Trigger(
                name="securityevent_append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                    hash="b66cc7fa55650089e1357a2b82d56b181db8c776",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_securityevent_append_only_5c88a",
                    table="casesite_securityevent",
                    when="BEFORE",
                ),
            ),
        ),
    ]
