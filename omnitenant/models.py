"""Abstract tenant and domain models a project subclasses (TENANT_MODEL, DOMAIN_MODEL)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from omnitenant.context import validate_tenant_id
from omnitenant.exceptions import InvalidTenantId
from omnitenant.hosts import normalize_host
from omnitenant.resolvers import foreign_claim


def tenant_id_validator(value: str) -> None:
    """Field validator: the tenant_id rules of ``validate_tenant_id`` as a ValidationError."""
    try:
        validate_tenant_id(value)
    except InvalidTenantId as exc:
        raise ValidationError(str(exc), code="invalid_tenant_id") from exc


def domain_validator(value: str) -> None:
    """Field validator: a host name such as ``acme.example.com`` (port and case are normalised)."""
    try:
        normalize_host(value)
    except ValueError as exc:
        msg = f"{value!r} is not a valid domain; use a host name such as 'acme.example.com'."
        raise ValidationError(msg, code="invalid_domain") from exc


class TenantQuerySet(models.QuerySet):
    """Query helpers for tenant models."""

    def active(self) -> TenantQuerySet:
        """Tenants that may serve requests and run jobs."""
        return self.filter(is_active=True)


TenantManager = models.Manager.from_queryset(TenantQuerySet)


class BaseTenant(models.Model):
    """A customer: who ``TenantContext`` activates, and where its data lives."""

    class IsolationType(models.TextChoices):
        SCHEMA = "schema", "PostgreSQL schema"
        DATABASE = "database", "Own database"

    tenant_id = models.CharField(max_length=63, unique=True, validators=[tenant_id_validator])
    name = models.CharField(max_length=200)
    isolation_type = models.CharField(
        max_length=16, choices=IsolationType.choices, default=IsolationType.SCHEMA
    )
    db_alias = models.CharField(max_length=100, blank=True, null=True)
    cache_alias = models.CharField(max_length=100, blank=True, null=True)
    is_active = models.BooleanField(default=True)

    objects = TenantManager()

    class Meta:
        abstract = True
        ordering = ["tenant_id"]
        constraints = [
            # Two database tenants on one alias would read and write the same rows.
            models.UniqueConstraint(
                fields=["db_alias"],
                condition=models.Q(isolation_type="database"),
                name="%(app_label)s_%(class)s_unique_database_alias",
                violation_error_message=(
                    "Another tenant with database isolation already uses this db_alias; "
                    "give each database tenant an alias of its own."
                ),
            )
        ]

    def __str__(self) -> str:
        return self.tenant_id

    def clean(self) -> None:
        super().clean()
        if self.isolation_type == self.IsolationType.DATABASE and not self.db_alias:
            raise ValidationError(
                {"db_alias": "A tenant with database isolation needs a db_alias."}
            )


def _tenant_model_reference() -> str:
    # The FK target is read from settings at class creation, like AUTH_USER_MODEL;
    # a missing TENANT_MODEL is reported by the omnitenant.E001 system check.
    config = getattr(settings, "OMNITENANT_CONFIG", None) or {}
    return config.get("TENANT_MODEL") or "omnitenant.TenantModelNotConfigured"


class BaseDomain(models.Model):
    """A host name that serves one tenant."""

    domain = models.CharField(max_length=253, unique=True, validators=[domain_validator])
    tenant = models.ForeignKey(
        _tenant_model_reference(), on_delete=models.CASCADE, related_name="domains"
    )
    is_primary = models.BooleanField(default=False)

    class Meta:
        abstract = True
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    def save(self, *args: Any, **kwargs: Any) -> None:
        self._normalize_domain(strict=True)
        super().save(*args, **kwargs)

    def clean_fields(self, exclude: Any = None) -> None:
        self._normalize_domain(strict=False)
        super().clean_fields(exclude=exclude)

    def clean(self) -> None:
        """Refuse a host that belongs to another tenant or the public site, naming the owner.

        Another tenant's host is its ``<tenant_id>.<BASE_DOMAIN>`` and everything under it,
        and its custom domains together with their parents and the hosts under them.
        """
        super().clean()
        try:
            host = normalize_host(self.domain)
        except ValueError:
            return  # the field validator reports it
        if self.tenant_id is None:
            return  # the tenant field reports it
        tenant_id = self.tenant.tenant_id
        claim = foreign_claim(host, tenant_id) or self._claim_of_other_domains(host)
        if claim is not None:
            msg = f"{host!r} cannot be a domain of tenant {tenant_id!r}: {claim}."
            raise ValidationError({"domain": ValidationError(msg, code="domain_taken")})

    def _claim_of_other_domains(self, host: str) -> str | None:
        parents = [host.split(".", depth)[-1] for depth in range(host.count(".") + 1)]
        others = type(self)._default_manager.exclude(tenant_id=self.tenant_id)
        if self.pk is not None:
            others = others.exclude(pk=self.pk)
        clash = (
            others.filter(models.Q(domain__in=parents) | models.Q(domain__endswith="." + host))
            .select_related("tenant")
            .order_by("domain")
            .first()
        )
        if clash is None:
            return None
        owner = clash.tenant.tenant_id
        if clash.domain == host:
            return f"it is already a domain of tenant {owner!r}"
        if clash.domain in parents:
            return f"it lies under {clash.domain!r}, a domain of tenant {owner!r}"
        return f"{clash.domain!r}, a domain of tenant {owner!r}, lies under it"

    def _normalize_domain(self, *, strict: bool) -> None:
        """Store hosts the way resolvers look them up: lower-case, no port, no trailing dot."""
        try:
            self.domain = normalize_host(self.domain)
        except ValueError:
            if strict:
                domain_validator(self.domain)
