"""Whether each group is public, kept on the group's own row.

A group is public when it is published and its platform is public (published, with a public
operator: see ``Record.objects.public``). Asked on every list request, that condition costs
subqueries over platforms and organisations joined to every group. It is kept instead in
``Group.is_public``, which partial indexes on the list's orders serve directly, and the rule
is still the one ``public_relations`` states: the flag is recomputed from it, in the same
transaction, whenever a row it depends on is saved.

- A group saved: its own flag.
- A platform or an organisation saved (published, retracted, re-linked to another operator
  or parent): the flags of the groups whose platform's visibility disagrees with theirs. Both
  directions are read from small partial indexes, so a save that changes no group's
  visibility (a description edited) costs two index probes, whatever the number of groups.

Deletions need nothing: every foreign key on the way (group to platform, platform to
operator, organisation to parent) protects its target. Loaders that write rows without
signals (``generate_synthetic``'s COPY) call :func:`refresh` when they are done; the
snapshot and fixture loaders save rows one by one, which sends the signals.

The flag is not part of any representation or history, and ``tests/test_invariants.py``
checks after every step of its state machine that it equals the rule.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, models
from django.db.models.signals import post_save

from .choices import PublicationStatus
from .models import Group, Platform
from .models.base import Record, public_relations

PUBLISHED = PublicationStatus.PUBLISHED


def public_groups_by_rule(using: str = DEFAULT_DB_ALIAS):
    """The public groups as the rule states them, without the flag (for checks and tests)."""
    return Group.objects.using(using).published().filter(public_relations(Group))


def refresh_group(group: Group, using: str = DEFAULT_DB_ALIAS) -> None:
    """Set one group's flag from the rule (on its row and on the instance)."""
    public = public_groups_by_rule(using).filter(pk=group.pk).exists()
    Group.objects.using(using).filter(pk=group.pk).exclude(is_public=public).update(
        is_public=public
    )
    group.is_public = public


def refresh(using: str = DEFAULT_DB_ALIAS, *, full: bool = False) -> int:
    """Set every group's flag that disagrees with its platform's visibility (and, ``full``,
    with its own status: needed only after rows were written without signals). Returns how
    many flags changed."""
    public_platforms = Platform.objects.using(using).public().values("pk")
    groups = Group.objects.using(using)
    shown = groups.filter(
        is_public=False, publication_status=PUBLISHED, platform__in=public_platforms
    ).update(is_public=True)
    hidden = (
        groups.filter(is_public=True)
        .filter(platform__in=Platform.objects.using(using).exclude(pk__in=public_platforms))
        .update(is_public=False)
    )
    if full:
        hidden += (
            groups.filter(is_public=True)
            .exclude(publication_status=PUBLISHED)
            .update(is_public=False)
        )
    return shown + hidden


def on_group_save(sender, instance, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    refresh_group(instance, using=using)


def on_platform_chain_save(sender, instance, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    refresh(using=using)


def upstream(model: type[models.Model]) -> set[type[models.Model]]:
    """The models whose rows the rule for ``model`` reads, through foreign keys to records
    (followed as ``public_relations`` follows them: a model's own kind is read for its status
    alone)."""
    found: set[type[models.Model]] = set()
    for field in model._meta.concrete_fields:
        target = field.related_model
        if field.many_to_one and issubclass(target, Record) and target is not model:
            found |= {target, *upstream(target)}
    return found


def connect_signals() -> None:
    post_save.connect(on_group_save, sender=Group, dispatch_uid="visibility-group")
    for model in upstream(Group):
        post_save.connect(
            on_platform_chain_save, sender=model, dispatch_uid=f"visibility-{model.__name__}"
        )
