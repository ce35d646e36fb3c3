"""Roles. Curators are the members of the ``curators`` group, which holds the add, change and
view permissions of every domain model. The delete permission (a hard delete) is not in it:
a curator's delete is a retraction. Grant it to the few who should have it."""

from __future__ import annotations

CURATORS_GROUP = "curators"

#: The domain models curators edit (model names, lower case).
CURATED_MODELS = (
    "actionissuer",
    "actiontarget",
    "citation",
    "exchange",
    "exchangeresponse",
    "group",
    "groupexchange",
    "migration",
    "organization",
    "platform",
    "platformavailability",
    "regulatoryaction",
    "source",
)

CURATOR_ACTIONS = ("add", "change", "view")


def ensure_curators_group(group_model, permission_model):
    """The curators group with its permissions; works with the migration's historical models
    as with the real ones. The permissions must exist already."""
    curators, _ = group_model.objects.get_or_create(name=CURATORS_GROUP)
    codenames = [f"{action}_{model}" for model in CURATED_MODELS for action in CURATOR_ACTIONS]
    permissions = permission_model.objects.filter(
        content_type__app_label="cryptogroups", codename__in=codenames
    )
    curators.permissions.add(*permissions)
    return curators
