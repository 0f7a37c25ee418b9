"""Per-tenant file storage: every name lives under ``<tenant_id>/`` of a wrapped storage.

``TenantStorage`` wraps any Django storage backend (FileSystemStorage, django-storages' S3...)
and maps each name to ``<tenant_id>/<name>`` of the active tenant, after refusing names that
could leave it (``..``, absolute paths, NUL and control characters, backslashes, drive
letters, and on local disks symlinks out of the tenant's directory) with
``SuspiciousFileOperation``. Names given and returned are the tenant's own, without the
prefix. With no tenant it raises ``NoTenantActive``, unless ``public`` names a directory for
the public site (a name that cannot be a tenant id, e.g. ``"_public"``).
``TenantFileSystemStorage`` is the wrapper around ``FileSystemStorage`` (MEDIA_ROOT/MEDIA_URL).
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import shutil
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models.signals import post_delete
from django.utils.deconstruct import deconstructible
from django.utils.module_loading import import_string

from omnitenant.context import TenantContext, validate_tenant_id
from omnitenant.exceptions import ConfigurationError, InvalidTenantId, NoTenantActive

logger = logging.getLogger(__name__)

DEFAULT_STORAGE = "django.core.files.storage.FileSystemStorage"
# Control characters (NUL included), backslash, and a Windows drive ("C:") or stream ("a:b").
_REFUSED = re.compile(r"[\x00-\x1f\x7f\\:]")
_DELETION = "_omnitenant_files_on_delete"


def _refuse(name: object, why: str) -> SuspiciousFileOperation:
    return SuspiciousFileOperation(
        f"File name {name!r} {why}; use a relative name with '/' separators inside the tenant."
    )


def check_name(name: object) -> str:
    """Return ``name`` if it stays inside a tenant's area, else raise SuspiciousFileOperation."""
    if not isinstance(name, str):
        raise _refuse(name, "is not a string")
    if _REFUSED.search(name):
        raise _refuse(name, "contains a control character, a backslash or a ':'")
    if name.startswith("/"):
        raise _refuse(name, "is absolute")
    if ".." in name.split("/"):
        raise _refuse(name, "contains a '..' component")
    return name


@deconstructible(path="omnitenant.storage.TenantStorage")
class TenantStorage(Storage):
    """Any storage backend, scoped to the active tenant by a ``<tenant_id>/`` name prefix.

    In STORAGES: ``{"BACKEND": "omnitenant.storage.TenantStorage", "OPTIONS": {"storage":
    "storages.backends.s3.S3Storage", "options": {...}, "public": None}}``.
    """

    def __init__(
        self,
        storage: str | Storage = DEFAULT_STORAGE,
        options: dict[str, Any] | None = None,
        public: str | None = None,
    ) -> None:
        if public is not None:
            _check_public(public)
        self.public = public
        if isinstance(storage, Storage):
            self.storage = storage
        else:
            try:
                backend = import_string(storage)
            except ImportError as exc:
                msg = f"TenantStorage cannot import storage {storage!r}: {exc}"
                raise ConfigurationError(msg) from exc
            self.storage = backend(**(options or {}))
        # On a local disk the real path is checked too: a symlink must not lead out.
        self._local = isinstance(self.storage, FileSystemStorage)

    # --- names ------------------------------------------------------------------------------

    def area(self) -> str:
        """The directory of the active tenant (or the public area) in the wrapped storage."""
        tenant = TenantContext.get_tenant()
        if tenant is not None:
            return tenant.tenant_id
        if self.public is None:
            msg = (
                "Tenant file storage needs an active tenant; run inside "
                "TenantContext.use_tenant(...), or set OPTIONS['public'] (e.g. '_public') "
                "to give the public site a directory of its own."
            )
            raise NoTenantActive(msg)
        return self.public

    def _full(self, name: str, *, local: bool = True) -> str:
        check_name(name)
        area = self.area()
        full = f"{area}/{name}" if name else area
        if local and self._local:
            self._check_real_path(area, full, name)
        return full

    def _check_real_path(self, area: str, full: str, name: str) -> None:
        root = os.path.join(os.path.realpath(self.storage.location), area)
        real = os.path.realpath(self.storage.path(full))
        if real != root and not real.startswith(root + os.sep):
            raise _refuse(name, "leads out of the tenant's directory (a symlink)")

    def _own(self, full: str) -> str:
        return full.removeprefix(self.area() + "/")

    # --- the Storage API ----------------------------------------------------------------------

    def _open(self, name: str, mode: str = "rb") -> Any:
        return self.storage.open(self._full(name), mode)

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        if name is None:
            name = content.name
        full = self._full(name)
        if max_length is not None:
            max_length += len(full) - len(name)
        saved = self.storage.save(full, content, max_length=max_length)
        self._full(self._own(saved))  # the name the backend chose stays inside too
        return self._own(saved)

    def _save(self, name: str, content: IO[Any]) -> str:
        return self._own(self.storage._save(self._full(name), content))

    def get_valid_name(self, name: str) -> str:
        return self.storage.get_valid_name(name)

    def get_alternative_name(self, file_root: str, file_ext: str) -> str:
        return self.storage.get_alternative_name(file_root, file_ext)

    def generate_filename(self, filename: str) -> str:
        return check_name(self.storage.generate_filename(check_name(filename)))

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        full = self._full(name)
        if max_length is not None:
            max_length += len(full) - len(name)
        return self._own(self.storage.get_available_name(full, max_length=max_length))

    def path(self, name: str) -> str:
        return self.storage.path(self._full(name))

    def delete(self, name: str) -> None:
        if not name:
            msg = "TenantStorage.delete() needs a file name, not the tenant's whole directory."
            raise ValueError(msg)
        self.storage.delete(self._full(name))

    def exists(self, name: str) -> bool:
        return self.storage.exists(self._full(name))

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        try:
            return self.storage.listdir(self._full(path.rstrip("/")))
        except FileNotFoundError:
            if path.strip("/"):
                raise
            return [], []  # the tenant has saved nothing yet

    def size(self, name: str) -> int:
        return self.storage.size(self._full(name))

    def url(self, name: str | None) -> str:
        return self.storage.url(self._full(name or "", local=False))

    def get_accessed_time(self, name: str) -> datetime.datetime:
        return self.storage.get_accessed_time(self._full(name))

    def get_created_time(self, name: str) -> datetime.datetime:
        return self.storage.get_created_time(self._full(name))

    def get_modified_time(self, name: str) -> datetime.datetime:
        return self.storage.get_modified_time(self._full(name))


def _check_public(public: object) -> None:
    try:
        validate_tenant_id(public)
    except InvalidTenantId:
        if isinstance(public, str) and public and check_name(public) and "/" not in public:
            return
    msg = (
        f"TenantStorage public area {public!r} could be a tenant's directory; name it "
        "with a leading '_' (e.g. '_public'), which no tenant id can have."
    )
    raise ConfigurationError(msg)


@deconstructible(path="omnitenant.storage.TenantFileSystemStorage")
class TenantFileSystemStorage(TenantStorage):
    """Files under ``MEDIA_ROOT/<tenant_id>/``, served at ``MEDIA_URL<tenant_id>/``."""

    def __init__(
        self,
        location: str | None = None,
        base_url: str | None = None,
        file_permissions_mode: int | None = None,
        directory_permissions_mode: int | None = None,
        public: str | None = None,
    ) -> None:
        super().__init__(
            FileSystemStorage(
                location=location,
                base_url=base_url,
                file_permissions_mode=file_permissions_mode,
                directory_permissions_mode=directory_permissions_mode,
            ),
            public=public,
        )


# --- tenant deletion --------------------------------------------------------------------------


def tenant_storages() -> list[TenantStorage]:
    """The tenant storages configured in STORAGES (staticfiles is never one of them)."""
    found = []
    for alias, options in settings.STORAGES.items():
        backend = import_string(options["BACKEND"])
        if isinstance(backend, type) and issubclass(backend, TenantStorage):
            found.append(storages[alias])
    return found


def files_follow_deletion(tenant: Any, *, drop_data: bool) -> None:
    """When ``tenant``'s row deletion commits, drop its files or move them aside (kept).

    Kept files move to ``_kept_<utc time>_<tenant_id>/``, so a new tenant with the same id
    starts with none of them.
    """
    setattr(tenant, _DELETION, "drop" if drop_data else "keep")


def _on_tenant_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    fate = getattr(instance, _DELETION, None)
    if fate is None:
        return
    tenant_id = instance.tenant_id
    transaction.on_commit(
        lambda: drop_tenant_files(tenant_id) if fate == "drop" else keep_tenant_files(tenant_id),
        using=DEFAULT_DB_ALIAS,
    )


def connect() -> None:
    """Make ``files_follow_deletion`` act when the tenant row is deleted."""
    post_delete.connect(_on_tenant_deleted, dispatch_uid="omnitenant-storage-deletion")


def drop_tenant_files(tenant_id: str) -> None:
    """Delete every file of ``tenant_id`` on every tenant storage in STORAGES."""
    validate_tenant_id(tenant_id)
    for storage in tenant_storages():
        _remove_tree(storage.storage, tenant_id)
    logger.warning("Dropped the files of tenant %r", tenant_id)


def keep_tenant_files(tenant_id: str) -> str | None:
    """Move ``tenant_id``'s files aside to ``_kept_<utc time>_<tenant_id>/``; that name."""
    validate_tenant_id(tenant_id)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
    kept = f"_kept_{stamp}_{tenant_id}"
    moved = False
    for storage in tenant_storages():
        moved = _move_tree(storage.storage, tenant_id, kept) or moved
    if moved:
        logger.warning("Kept the files of deleted tenant %r as %r", tenant_id, kept)
    return kept if moved else None


def _remove_tree(storage: Storage, root: str) -> None:
    if isinstance(storage, FileSystemStorage):
        shutil.rmtree(storage.path(root), ignore_errors=True)
        return
    for name in _walk(storage, root):
        storage.delete(name)


def _move_tree(storage: Storage, root: str, target: str) -> bool:
    if isinstance(storage, FileSystemStorage):
        if not os.path.isdir(storage.path(root)):
            return False
        os.rename(storage.path(root), storage.path(target))
        return True
    names = list(_walk(storage, root))
    for name in names:
        with storage.open(name, "rb") as content:
            storage.save(target + name[len(root) :], content)
        storage.delete(name)
    return bool(names)


def _walk(storage: Storage, root: str) -> list[str]:
    try:
        directories, files = storage.listdir(root)
    except FileNotFoundError:
        return []
    names = [f"{root}/{name}" for name in files]
    for directory in directories:
        names += _walk(storage, f"{root}/{directory}")
    return names
