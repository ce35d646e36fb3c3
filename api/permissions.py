"""Who may do what in the API: anyone reads published data; curators write (see
cryptogroups.roles). A delete through the API is a retraction, which needs the change
permission; a hard delete (``?hard=true``) also needs the model's delete permission, and a
takedown the takedown permission."""

from __future__ import annotations

from rest_framework import permissions

from cryptogroups.roles import CURATORS_GROUP

__all__ = [
    "CURATORS_GROUP",
    "CuratorPermissions",
    "can_hard_delete",
    "can_take_down",
    "can_view_unpublished",
]


class CuratorPermissions(permissions.DjangoModelPermissionsOrAnonReadOnly):
    """Reads are open to all; each write needs the model permission it implies."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "DELETE": ["%(app_label)s.change_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        # A read needs no model permission (perms_map names none for the safe methods), so it
        # is allowed without building the view's queryset to find the model.
        if request.method in permissions.SAFE_METHODS:
            return True
        return super().has_permission(request, view)


def can_view_unpublished(user, model) -> bool:
    """Whether the user may read the model's drafts and retracted records."""
    opts = model._meta
    return bool(user and user.is_authenticated) and user.has_perm(
        f"{opts.app_label}.view_{opts.model_name}"
    )


def can_hard_delete(user, model) -> bool:
    opts = model._meta
    return bool(user and user.is_authenticated) and user.has_perm(
        f"{opts.app_label}.delete_{opts.model_name}"
    )


def can_take_down(user) -> bool:
    """Whether the user may take records down (not a curator's permission: grant it to the few
    who answer takedown requests)."""
    return bool(user and user.is_authenticated) and user.has_perm("cryptogroups.add_takedown")
