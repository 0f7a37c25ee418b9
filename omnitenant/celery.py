"""Celery tasks that carry their tenant: the tenant id travels in the message headers.

Every message published while a tenant is active gets the header ``MESSAGE_HEADER`` with
that tenant's id (``None`` for no tenant), set by the ``before_task_publish`` receiver that
``connect_celery()`` installs (the omnitenant app does so in ``ready()`` when Celery is
installed). Signatures embedded in the message (chain steps, link callbacks, chord bodies)
are given the same tenant, so a canvas keeps the tenant it was sent from even though its
later steps are published by a worker.

On the worker, tasks built on ``TenantTask`` (``@tenant_task``) look the tenant up with
``omnitenant.lookup.tenant_by_id`` and run their body, and their hooks (``before_start``,
``on_success``, ``on_failure``, ``on_retry``, ``after_return``), inside
``TenantContext.use_tenant``; the context is restored when each returns, raises or retries.
A missing or inactive tenant fails the task with ``TenantNotFound`` before the body runs (or
rejects the message, ``OMNITENANT_CONFIG["CELERY_TENANT_NOT_FOUND"] = "reject"``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from celery import Task, shared_task
from celery.canvas import Signature, signature
from celery.exceptions import Reject
from celery.result import AsyncResult
from celery.signals import before_task_publish

from omnitenant.conf import get_config
from omnitenant.context import TenantContext, validate_tenant_id
from omnitenant.exceptions import InvalidTenantId, NoTenantActive, TenantNotFound
from omnitenant.lookup import get_tenant_model, tenant_by_id

logger = logging.getLogger(__name__)

MESSAGE_HEADER = "omnitenant_tenant"
FAN_OUT_TASK = "omnitenant.enqueue_for_each_tenant"
_OPTION = "tenant"
_DISPATCH_UID = "omnitenant.celery.publish"
# Never a valid tenant id: marks a message whose explicit tenant could not be read, so the
# worker refuses it instead of running it with no tenant.
_INVALID = "!invalid"
_UNSET = object()
# Task hooks the tracer calls around the body; each runs inside the request's tenant.
HOOKS = ("before_start", "on_success", "on_failure", "on_retry", "after_return")
# Where the tenant resolved for a request is kept, on the request, for its hooks. Message
# headers become request attributes too: only a _Resolved instance counts.
_REQUEST_TENANT = "_omnitenant_resolved"


class _Resolved:
    __slots__ = ("tenant",)

    def __init__(self, tenant: Any) -> None:
        self.tenant = tenant


def _resolved(request: Any) -> _Resolved | None:
    found = getattr(request, _REQUEST_TENANT, None)
    return found if isinstance(found, _Resolved) else None


def _tenant_id_of(value: Any) -> str | None:
    """The tenant id an explicit ``tenant=`` names: a tenant, a tenant id, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        return validate_tenant_id(value)
    if hasattr(value, "tenant_id"):
        return validate_tenant_id(value.tenant_id)
    msg = (
        f"tenant={value!r} names no tenant: pass a tenant instance, a tenant_id string, "
        "or None to send the task with no tenant."
    )
    raise InvalidTenantId(msg)


def _current_tenant_id() -> str | None:
    tenant = TenantContext.get_tenant()
    return None if tenant is None else tenant.tenant_id


# -- Publishing -------------------------------------------------------------------------


def _with_tenant(sig: Any, tenant_id: str | None) -> Any:
    """A copy of an embedded signature that names ``tenant_id`` unless it names its own."""
    if not isinstance(sig, dict):
        return sig
    options = dict(sig.get("options") or {})
    options.setdefault(_OPTION, tenant_id)
    # A copy, never the caller's object: a signature reused later from another tenant
    # must not carry this one.
    return {**sig, "options": options}


def _stamp_embedded(body: Any, tenant_id: str | None) -> None:
    if not (isinstance(body, (tuple, list)) and len(body) == 3 and isinstance(body[2], dict)):
        return  # not a protocol 2 message
    embed = body[2]
    for key in ("callbacks", "errbacks", "chain"):
        if embed.get(key):
            embed[key] = [_with_tenant(sig, tenant_id) for sig in embed[key]]
    if embed.get("chord"):
        embed["chord"] = _with_tenant(embed["chord"], tenant_id)


def _on_before_task_publish(
    sender: Any = None,
    body: Any = None,
    headers: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    if headers is None:
        return
    # Tasks that are not TenantTasks pass ``tenant=`` through to the message properties.
    explicit = properties.pop(_OPTION, _UNSET) if properties is not None else _UNSET
    if explicit is not _UNSET:
        try:
            headers[MESSAGE_HEADER] = _tenant_id_of(explicit)
        except InvalidTenantId:
            # Celery logs and swallows errors raised here; fail closed on the worker instead.
            logger.exception("Task %s sent with an invalid tenant; a TenantTask refuses it", sender)
            headers[MESSAGE_HEADER] = _INVALID
    elif MESSAGE_HEADER not in headers:
        headers[MESSAGE_HEADER] = _current_tenant_id()
    _stamp_embedded(body, headers[MESSAGE_HEADER])


def connect_celery() -> None:
    """Put the active tenant in the headers of every task message sent (idempotent)."""
    before_task_publish.connect(_on_before_task_publish, weak=False, dispatch_uid=_DISPATCH_UID)


def disconnect_celery() -> None:
    """Stop adding the tenant to task messages."""
    before_task_publish.disconnect(_on_before_task_publish, dispatch_uid=_DISPATCH_UID)


def _stamp_options(options: dict[str, Any]) -> None:
    """Turn ``tenant=`` (or the active tenant) into the message header, validating it."""
    headers = dict(options.get("headers") or {})
    if _OPTION in options:
        tenant_id = _tenant_id_of(options.pop(_OPTION))
    elif MESSAGE_HEADER in headers:
        tenant_id = _tenant_id_of(headers[MESSAGE_HEADER])  # e.g. a retry's own headers
    else:
        tenant_id = _current_tenant_id()
    headers[MESSAGE_HEADER] = tenant_id
    options["headers"] = headers


class _TenantSignature(Signature):
    """A signature whose ``set(tenant=...)`` is validated when it is set."""

    def set(self, immutable: bool | None = None, **options: Any) -> _TenantSignature:
        if _OPTION in options:
            options[_OPTION] = _tenant_id_of(options[_OPTION])
        return super().set(immutable=immutable, **options)


# -- The task ---------------------------------------------------------------------------


class TenantTask(Task):
    """A Task whose body runs inside the tenant it was sent for.

    ``apply_async(..., tenant=t)`` and ``.s(...).set(tenant=t)`` send it for ``t`` (a tenant,
    a tenant id, or None) instead of the active tenant. With ``tenant_required = True`` a
    message without a tenant fails with ``NoTenantActive``. Called directly (``task(...)``)
    it runs in the caller's tenant.
    """

    tenant_required = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in HOOKS:
            hook = getattr(cls, name)
            # Celery's own no-op hooks are left alone: the tracer skips those entirely.
            if hook is not getattr(Task, name) and not getattr(hook, "_omnitenant_hook", False):
                setattr(cls, name, _in_request_tenant(hook, name))

    def apply_async(
        self,
        args: Any = None,
        kwargs: Any = None,
        task_id: str | None = None,
        producer: Any = None,
        link: Any = None,
        link_error: Any = None,
        shadow: str | None = None,
        **options: Any,
    ) -> AsyncResult:
        _stamp_options(options)
        return super().apply_async(
            args, kwargs, task_id, producer, link, link_error, shadow, **options
        )

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        _stamp_options(options)
        return super().apply(args, kwargs, **options)

    def signature(self, args: Any = None, *starargs: Any, **starkwargs: Any) -> Signature:
        starkwargs.setdefault("app", self.app)
        return _TenantSignature(self, args, *starargs, **starkwargs)

    subtask = signature

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.request.called_directly:
            return super().__call__(*args, **kwargs)
        tenant = self._tenant_for_request()
        with TenantContext.use_tenant(tenant):
            # The worker's tracer has pushed the request already; Task.__call__ would push
            # a second, empty one (no id, no retries) over it.
            return self.run(*args, **kwargs)

    def _tenant_for_request(self) -> Any:
        """The request's tenant, looked up once and kept on the request for its hooks."""
        request = self.request
        resolved = _resolved(request)
        if resolved is None:
            resolved = _Resolved(self._request_tenant())
            setattr(request, _REQUEST_TENANT, resolved)
        return resolved.tenant

    def _request_tenant(self) -> Any:
        """The active tenant this request was sent for; raise before the body runs if none."""
        request = self.request
        raw = (request.headers or {}).get(MESSAGE_HEADER)
        if raw is None:
            if self.tenant_required:
                msg = (
                    f"Task {self.name}[{request.id}] needs a tenant but was sent with none; "
                    "send it inside TenantContext.use_tenant(...) or with "
                    "apply_async(..., tenant=...)."
                )
                raise NoTenantActive(msg)
            return None
        try:
            tenant_id = validate_tenant_id(raw)
        except InvalidTenantId as exc:
            msg = (
                f"Task {self.name}[{request.id}] arrived with {MESSAGE_HEADER}={raw!r}, "
                "not a tenant id; it did not run."
            )
            raise InvalidTenantId(msg) from exc
        if TenantContext.get_tenant() is None:
            tenant = tenant_by_id(tenant_id)
        else:
            with TenantContext.use_tenant(None):  # an eager call nested inside a tenant
                tenant = tenant_by_id(tenant_id)
        if tenant is None or not getattr(tenant, "is_active", True):
            msg = (
                f"Task {self.name}[{request.id}] was sent for tenant {tenant_id!r}, which "
                "does not exist or is inactive; it did not run."
            )
            if get_config().celery_tenant_not_found == "reject":
                raise Reject(TenantNotFound(msg), requeue=False)
            raise TenantNotFound(msg)
        return tenant


def _in_request_tenant(hook: Callable[..., Any], name: str) -> Callable[..., Any]:
    """Wrap task hook ``name`` so that it runs inside the tenant of the request being traced.

    ``before_start`` looks the tenant up (and fails the task as the body would); the hooks
    of a request refused before its body (tenant missing, inactive or malformed) run with
    no tenant.
    """
    resolves = name == "before_start"

    @functools.wraps(hook)
    def run_hook(self: TenantTask, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        if request.called_directly:
            return hook(self, *args, **kwargs)
        if resolves:
            tenant = self._tenant_for_request()
        else:
            resolved = _resolved(request)
            tenant = None if resolved is None else resolved.tenant
        with TenantContext.use_tenant(tenant):
            return hook(self, *args, **kwargs)

    run_hook._omnitenant_hook = True  # type: ignore[attr-defined]
    return run_hook


def tenant_task(
    func: Callable[..., Any] | None = None, *, required: bool = False, **options: Any
) -> Any:
    """Declare a shared task (``@tenant_task`` or ``@tenant_task(...)``) run inside its tenant.

    ``required=True`` refuses messages sent with no tenant; other options go to
    ``shared_task`` (or to ``app.task`` when ``app=`` is given).
    """
    base = options.pop("base", TenantTask)
    if not (isinstance(base, type) and issubclass(base, TenantTask)):
        msg = f"tenant_task(base={base!r}): the base must subclass omnitenant.celery.TenantTask."
        raise TypeError(msg)
    app = options.pop("app", None)
    decorator = (app.task if app is not None else shared_task)(
        base=base, tenant_required=required, **options
    )
    return decorator(func) if func is not None else decorator


# -- One task per tenant ----------------------------------------------------------------


def _active_tenant_ids() -> list[str]:
    with TenantContext.use_tenant(None):
        model = get_tenant_model()
        return list(
            model._default_manager.filter(is_active=True)
            .order_by("tenant_id")
            .values_list("tenant_id", flat=True)
        )


def enqueue_for_each_tenant(
    task: Task | Signature, tenant_ids: Iterable[str] | None = None
) -> list[AsyncResult]:
    """Send one copy of ``task`` (a task or a signature) per active tenant, over one producer.

    ``tenant_ids`` restricts the fan-out to those ids. Each copy runs inside its own tenant
    on whichever worker takes it, so the work spreads over the Celery cluster.
    """
    sig = task if isinstance(task, Signature) else task.s()
    ids = _active_tenant_ids() if tenant_ids is None else [_tenant_id_of(t) for t in tenant_ids]
    results = []
    with sig.app.producer_or_acquire() as producer:
        for tenant_id in ids:
            results.append(sig.clone().apply_async(producer=producer, tenant=tenant_id))
    return results


@shared_task(name=FAN_OUT_TASK, ignore_result=True)
def _enqueue_for_each_tenant(
    task_name: str,
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> int:
    """Beat's entry point: send ``task_name`` once per active tenant; return how many."""
    sig = signature(task_name, args=args or (), kwargs=kwargs or {}, options=options or {})
    return len(enqueue_for_each_tenant(sig))


def schedule_for_each_tenant(
    task: str | Task,
    schedule: Any,
    args: Iterable[Any] = (),
    kwargs: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``beat_schedule`` entry that sends ``task`` once per active tenant at each run.

    Beat itself runs with no tenant: it sends one ``omnitenant.enqueue_for_each_tenant`` task,
    and a worker fans it out with ``enqueue_for_each_tenant``.
    """
    name = task if isinstance(task, str) else task.name
    return {
        "task": FAN_OUT_TASK,
        "schedule": schedule,
        "args": (name, list(args), dict(kwargs or {}), dict(options or {})),
    }
