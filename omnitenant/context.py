"""TenantContext: the one answer to "which tenant is this code running for?"."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import re
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, ParamSpec, Protocol, TypeVar

from omnitenant.exceptions import InvalidTenantId
from omnitenant.signals import tenant_activated, tenant_deactivated

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

_TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class TenantLike(Protocol):
    """Anything with a ``tenant_id`` can be activated; ``db_alias``/``cache_alias`` are optional."""

    tenant_id: str


Subscriber = Callable[[Any], None]

_current: ContextVar[Any] = ContextVar("omnitenant_tenant", default=None)
# Replaced, never mutated: a change made while subscribers are being told waits for the next.
_subscribers: tuple[Subscriber, ...] = ()
# What each entered scope must restore, per context: a scope object shared by concurrent
# tasks (e.g. a module-level ``use_tenant(acme)``) then still restores each task's own tenant.
# A linked list, (innermost frame, outer list), so entering and leaving copy nothing.
_entered: ContextVar[Any] = ContextVar("omnitenant_entered", default=None)
# Tenant ids already found valid (bounded: any object with a tenant_id can be activated).
_valid_ids: set[str] = set()
_MAX_VALID_IDS = 65536


def validate_tenant_id(value: object) -> str:
    """Return ``value`` if it is a valid tenant id, else raise InvalidTenantId saying why."""
    if not isinstance(value, str) or not _TENANT_ID.fullmatch(value) or value.startswith("pg_"):
        msg = (
            f"Invalid tenant_id {value!r}: use 1-63 characters of a-z, 0-9, '_' and '-', "
            "starting with a letter or digit and not with 'pg_' (PostgreSQL reserves it)."
        )
        raise InvalidTenantId(msg)
    if value[2:4] == "--":
        msg = (
            f"Invalid tenant_id {value!r}: '--' in the third and fourth place marks a reserved "
            "host label ('xn--' is punycode, which browsers show as another, Unicode name); "
            "move or drop the hyphens."
        )
        raise InvalidTenantId(msg)
    return value


def _validate_tenant(tenant: object) -> None:
    tenant_id = getattr(tenant, "tenant_id", None)
    if type(tenant_id) is str and tenant_id in _valid_ids:
        return
    if not hasattr(tenant, "tenant_id"):
        msg = (
            f"Cannot activate {tenant!r}: it has no tenant_id attribute. "
            "Pass a tenant model instance (or any object with a tenant_id), or None for no tenant."
        )
        raise InvalidTenantId(msg)
    validate_tenant_id(tenant_id)
    if len(_valid_ids) >= _MAX_VALID_IDS:
        _valid_ids.clear()
    _valid_ids.add(tenant_id)


def _notify_all(tenant: Any) -> BaseException | None:
    """Tell every subscriber, even past one that fails; return the first failure."""
    first_error = None
    for subscriber in _subscribers:
        try:
            subscriber(tenant)
        except Exception as exc:
            logger.exception("Tenant subscriber %r failed while restoring %r", subscriber, tenant)
            first_error = first_error or exc
    return first_error


# --- entering and leaving, for omnitenant's own hot callers ------------------------------
# Frame: what ``leave`` needs to undo an ``enter`` (opaque to callers).
Frame = tuple[Token[Any], Any, Any]

#: The active tenant, or None, as ``TenantContext.get_tenant()`` answers (no wrapper call).
current = _current.get


def enter(tenant: Any) -> Frame:
    """Check ``tenant`` as ``use_tenant`` does, make it current and tell the subscribers."""
    # The known-valid case inline: this runs on every request.
    if tenant is not None and not (
        type(tenant_id := getattr(tenant, "tenant_id", None)) is str and tenant_id in _valid_ids
    ):
        _validate_tenant(tenant)
    return _activate(tenant)


def leave(frame: Frame) -> None:
    """Undo the ``enter`` that returned ``frame``: restore and announce the outer tenant."""
    token, previous, tenant = frame
    try:
        _current.reset(token)
    except ValueError:  # see _restore (not called here: this runs on every scope exit)
        _current.set(previous)
    error = _notify_all(previous)
    if tenant is not None and tenant_deactivated.receivers:
        tenant_deactivated.send(sender=TenantContext, tenant=tenant)
    if error is not None:
        raise error


def _activate(tenant: Any) -> Frame:
    previous = _current.get()
    token = _current.set(tenant)
    try:
        for subscriber in _subscribers:  # in order; the first that raises stops the change
            subscriber(tenant)
        # Signal.send() with no receivers still costs a call per scope: skip it then.
        if tenant is not None and tenant_activated.receivers:
            tenant_activated.send(sender=TenantContext, tenant=tenant)
    except BaseException:
        _restore(token, previous)
        _notify_all(previous)
        raise
    return token, previous, tenant


def _restore(token: Token[Any], previous: Any) -> None:
    try:
        _current.reset(token)
    except ValueError:
        # The scope was left in another context than it was entered in (e.g. an async
        # generator resumed by another task); put the outer tenant back by value.
        _current.set(previous)


# A context variable set across a ``yield`` would stay set in the consumer, so iteration
# runs each step inside the tenant, which is inactive between steps.


def iterate_in(tenant: Any, iterable: Iterable[Any]) -> Generator[Any, Any, Any]:
    """Yield ``iterable``'s items, each produced inside ``tenant``; closing it closes them.

    Values sent in reach a generator's ``send``; its return value is returned.
    """
    if tenant is not None:
        _validate_tenant(tenant)
    iterator = iter(iterable)
    advance = iterator.send if isinstance(iterator, Generator) else None
    sent = None
    try:
        while True:
            frame = _activate(tenant)
            try:
                value = next(iterator) if advance is None else advance(sent)
            except StopIteration as stop:
                return stop.value
            finally:
                leave(frame)
            sent = yield value
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            frame = _activate(tenant)
            try:
                close()
            finally:
                leave(frame)


async def aiterate_in(tenant: Any, iterable: AsyncIterable[Any]) -> AsyncGenerator[Any, Any]:
    """``iterate_in`` for async iterables: each item is awaited inside ``tenant``."""
    if tenant is not None:
        _validate_tenant(tenant)
    iterator = aiter(iterable)
    advance = iterator.asend if isinstance(iterator, AsyncGenerator) else None
    sent = None
    try:
        while True:
            frame = _activate(tenant)
            try:
                value = await (anext(iterator) if advance is None else advance(sent))
            except StopAsyncIteration:
                return
            finally:
                leave(frame)
            sent = yield value
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            frame = _activate(tenant)
            try:
                await aclose()
            finally:
                leave(frame)


class _TenantScope:
    """What ``use_tenant`` returns: a sync/async context manager and a decorator."""

    def __init__(self, tenant: Any) -> None:
        if tenant is not None:
            _validate_tenant(tenant)
        self._tenant = tenant

    def __enter__(self) -> Any:
        frame = _activate(self._tenant)
        _entered.set((frame, _entered.get()))
        return self._tenant

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        frame, outer = _entered.get()
        _entered.set(outer)
        leave(frame)

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        tenant = self._tenant
        if inspect.isgeneratorfunction(func):
            return _wrap_generator(func, tenant)  # type: ignore[return-value]
        if inspect.isasyncgenfunction(func):
            return _wrap_async_generator(func, tenant)  # type: ignore[return-value]
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with _TenantScope(tenant):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _TenantScope(tenant):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _wrap_generator(func: Callable[..., Any], tenant: Any) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return (yield from iterate_in(tenant, func(*args, **kwargs)))

    return wrapper


def _wrap_async_generator(func: Callable[..., Any], tenant: Any) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        # ``yield from`` by hand (async generators have none), so the wrapper stays one.
        steps = aiterate_in(tenant, func(*args, **kwargs))
        sent = None
        try:
            while True:
                try:
                    value = await steps.asend(sent)
                except StopAsyncIteration:
                    return
                sent = yield value
        finally:
            await steps.aclose()

    return wrapper


class TenantContext:
    """The active tenant, kept in a ContextVar.

    ``use_tenant(t)`` makes ``t`` the tenant until the block (or decorated call) ends,
    then restores exactly the tenant that was active before, also when the body raises.
    ``use_tenant(None)`` runs a block with no tenant (the public site) inside a tenant.

    Each thread and each asyncio task sees its own tenant: a task started inside a
    tenant inherits it (asyncio copies the context), changes made inside the task stay
    there, and a new ``threading.Thread`` starts with no tenant. asgiref's
    ``sync_to_async``/``async_to_sync`` and ``TenantThreadPoolExecutor`` carry it across.

    Subscribers are called with the new current tenant on every change, in registration
    order, in both directions and to and from None; omnitenant's own is the schema switch
    (``omnitenant.isolation.schema.follow_tenant``), while the cache patch and the router read
    the tenant when they need it. If a subscriber raises while a tenant is being entered, the
    outer tenant is restored and every subscriber is told so before the error propagates.
    ``tenant_activated`` and ``tenant_deactivated`` are sent when a non-None tenant's block
    starts and ends.
    """

    @staticmethod
    def get_tenant() -> Any:
        """The active tenant, or None."""
        return _current.get()

    @staticmethod
    def use_tenant(tenant: Any) -> _TenantScope:
        """Activate ``tenant`` (or None) for a ``with``/``async with`` block or a decorated call."""
        return _TenantScope(tenant)

    @staticmethod
    def get_cache_alias() -> str | None:
        """The active tenant's dedicated cache alias, or None."""
        tenant = _current.get()
        return (getattr(tenant, "cache_alias", None) or None) if tenant is not None else None

    @staticmethod
    def get_db_alias() -> str:
        """The database alias queries go to now (``"default"`` for no tenant and schema tenants)."""
        tenant = _current.get()
        if tenant is None or getattr(tenant, "isolation_type", None) == "schema":
            return "default"
        return getattr(tenant, "db_alias", None) or "default"

    @staticmethod
    def subscribe(subscriber: Subscriber) -> None:
        """Call ``subscriber(tenant)`` on every change of the current tenant (once per callable)."""
        global _subscribers
        if subscriber not in _subscribers:
            _subscribers = (*_subscribers, subscriber)

    @staticmethod
    def unsubscribe(subscriber: Subscriber) -> None:
        """Stop notifying ``subscriber``; unknown subscribers are ignored."""
        global _subscribers
        _subscribers = tuple(s for s in _subscribers if s != subscriber)


@contextlib.contextmanager
def without_tenant() -> Iterator[None]:
    """Read the current tenant as None for a moment, without notifying anyone.

    For omnitenant's own cross-tenant bookkeeping (e.g. the lookup version stamp in the
    cache), where a full ``use_tenant(None)`` would switch schemas and send signals for
    nothing. Code that touches tenant data must use ``use_tenant(None)`` instead.
    """
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


def _run_in_tenant(tenant: Any, fn: Callable[..., R], args: tuple[Any, ...], kwargs: Any) -> R:
    with _TenantScope(tenant):
        return fn(*args, **kwargs)


class TenantThreadPoolExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor whose work runs inside the tenant active when it was submitted.

    A plain worker thread starts with no tenant; this one copies the caller's context and
    re-activates its tenant in the worker, so subscribers (e.g. the schema switch on the
    worker thread's own connection) follow. Works with ``loop.run_in_executor`` too.
    """

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        context = contextvars.copy_context()
        return super().submit(context.run, _run_in_tenant, _current.get(), fn, args, kwargs)
