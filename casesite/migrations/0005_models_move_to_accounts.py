"""The security log and the session models move to the accounts app. Their tables stay
where they are (accounts' models keep these names); only Django's state moves, and the
append-only trigger is installed again under the new model's name by accounts 0001."""

import pgtrigger.migrations
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("casesite", "0004_append_only_triggers"),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name="securityevent", name="securityevent_append_only"
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="UserSession"),
                migrations.DeleteModel(name="SecurityEvent"),
            ],
            database_operations=[],
        ),
    ]
