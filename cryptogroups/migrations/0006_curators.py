"""The ``curators`` group, holding the add, change and view permissions of every domain model
(not the delete permission: a curator's delete is a retraction), and every record that existed
before the changes feed noted as pending, so that the next flush publishes it to the feed."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from cryptogroups.roles import CURATORS_GROUP, ensure_curators_group

RESOURCE_MODELS = [
    "exchange",
    "exchangeresponse",
    "group",
    "migration",
    "organization",
    "platform",
    "platformavailability",
    "regulatoryaction",
    "source",
]


def create_curators(apps, schema_editor):
    # Permissions are made after all migrations have run; make this app's now.
    app_config = apps.get_app_config("cryptogroups")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    ensure_curators_group(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def note_existing_records(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    PendingChange = apps.get_model("cryptogroups", "PendingChange")
    for name in RESOURCE_MODELS:
        model = apps.get_model("cryptogroups", name)
        content_type, _ = ContentType.objects.get_or_create(app_label="cryptogroups", model=name)
        PendingChange.objects.bulk_create(
            [
                PendingChange(content_type=content_type, object_id=pk)
                for pk in model.objects.values_list("pk", flat=True)
            ],
            ignore_conflicts=True,
        )


def remove_curators(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=CURATORS_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("cryptogroups", "0005_changes_feed"),
    ]

    operations = [
        migrations.RunPython(create_curators, remove_curators),
        migrations.RunPython(note_existing_records, migrations.RunPython.noop),
    ]
