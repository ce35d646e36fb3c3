"""Whether each group is public, kept on its row (cryptogroups.visibility), set here from the
rule for the groups already there."""

from django.db import migrations, models
from django.db.models import Q

PUBLISHED = "published"


def set_flags(apps, schema_editor):
    """The rule as it stands at this migration: a published group on a published platform
    whose operator, if any, is published with a published parent, if any."""
    Organization = apps.get_model("cryptogroups", "Organization")
    Platform = apps.get_model("cryptogroups", "Platform")
    Group = apps.get_model("cryptogroups", "Group")
    db = schema_editor.connection.alias
    organizations = Organization.objects.using(db).filter(
        Q(parent__isnull=True)
        | Q(parent__in=Organization.objects.using(db).filter(publication_status=PUBLISHED)),
        publication_status=PUBLISHED,
    )
    platforms = Platform.objects.using(db).filter(
        Q(operator__isnull=True) | Q(operator__in=organizations.values("pk")),
        publication_status=PUBLISHED,
    )
    Group.objects.using(db).filter(
        publication_status=PUBLISHED, platform__in=platforms.values("pk")
    ).update(is_public=True)


class Migration(migrations.Migration):
    dependencies = [
        ("cryptogroups", "0011_takedowns"),
    ]

    operations = [
        migrations.AddField(
            model_name="group",
            name="is_public",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="Whether the public API serves the group: kept from the rule of Record.objects.public() by cryptogroups.visibility.",
            ),
        ),
        migrations.RunPython(set_flags, migrations.RunPython.noop, elidable=False),
        migrations.AddIndex(
            model_name="group",
            index=models.Index(
                condition=models.Q(("is_public", True)),
                fields=["name", "slug"],
                include=("id", "platform"),
                name="group_public_order",
            ),
        ),
        migrations.AddIndex(
            model_name="group",
            index=models.Index(
                condition=models.Q(("is_public", True)),
                fields=["platform", "name", "slug"],
                include=("id",),
                name="group_public_platform_order",
            ),
        ),
        migrations.AddIndex(
            model_name="group",
            index=models.Index(
                condition=models.Q(("is_public", False), ("publication_status", "published")),
                fields=["platform"],
                name="group_hidden_published",
            ),
        ),
    ]
