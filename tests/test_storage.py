"""omnitenant.storage on the file system, wrapped FileSystemStorage, InMemoryStorage and S3."""

import os
import uuid
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, InMemoryStorage, storages
from django.core.management import call_command
from django.test import override_settings

from omnitenant import TenantContext
from omnitenant.exceptions import ConfigurationError, NoTenantActive
from omnitenant.provisioning import create_tenant, delete_tenant, deprovision_tenant
from omnitenant.storage import TenantFileSystemStorage, TenantStorage
from tests.servers.moto import MotoServer

ACME = SimpleNamespace(tenant_id="acme")
# What each backend raises for a file it does not have (S3 answers 404 to a HEAD).
MISSING = (FileNotFoundError, OSError, NotImplementedError, ClientError)
GLOBEX = SimpleNamespace(tenant_id="globex")


@pytest.fixture(scope="module")
def moto():
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def s3_storage(moto):
    import boto3

    bucket = f"media-{uuid.uuid4().hex[:12]}"
    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    boto3.client(
        "s3", endpoint_url=moto.endpoint_url, region_name="us-east-1", **credentials
    ).create_bucket(Bucket=bucket)
    return TenantStorage(
        "storages.backends.s3.S3Storage",
        options={
            "bucket_name": bucket,
            "endpoint_url": moto.endpoint_url,
            "access_key": "test",
            "secret_key": "test",
            "region_name": "us-east-1",
            "file_overwrite": False,
        },
    )


@pytest.fixture(params=["filesystem", "wrapped-filesystem", "memory", "s3"])
def storage(request, tmp_path):
    media = tmp_path / "media"
    if request.param == "filesystem":
        return TenantFileSystemStorage(location=str(media), base_url="/media/")
    if request.param == "wrapped-filesystem":
        return TenantStorage(
            "django.core.files.storage.FileSystemStorage",
            options={"location": str(media), "base_url": "/media/"},
        )
    if request.param == "memory":
        return TenantStorage(InMemoryStorage(base_url="/media/"))
    return s3_storage(request.getfixturevalue("moto"))


def local(storage):
    return isinstance(storage.storage, FileSystemStorage)


def save(storage, tenant, name, text):
    with TenantContext.use_tenant(tenant):
        return storage.save(name, ContentFile(text.encode()))


def read(storage, name):
    with storage.open(name) as file:
        return file.read()


# --- isolation --------------------------------------------------------------------------------


def test_file_saved_in_acme_is_invisible_to_globex_through_every_method(storage):
    assert save(storage, ACME, "docs/report.txt", "acme secret") == "docs/report.txt"
    with TenantContext.use_tenant(GLOBEX):
        assert not storage.exists("docs/report.txt")
        with pytest.raises(MISSING):
            read(storage, "docs/report.txt")
        with pytest.raises(MISSING):
            storage.size("docs/report.txt")
        with pytest.raises(MISSING):
            storage.get_modified_time("docs/report.txt")
        with pytest.raises(MISSING):
            storage.get_accessed_time("docs/report.txt")
        with pytest.raises(MISSING):
            storage.get_created_time("docs/report.txt")
        assert storage.listdir("") == ([], [])
        if local(storage):
            with pytest.raises(FileNotFoundError):
                storage.listdir("docs")
            expected = os.path.join(storage.storage.location, "globex", "docs", "report.txt")
            assert storage.path("docs/report.txt") == expected
        assert "/globex/docs/report.txt" in storage.url("docs/report.txt")
        assert storage.get_available_name("docs/report.txt") == "docs/report.txt"
        storage.delete("docs/report.txt")  # globex has no such file: acme's stays
        assert save(storage, GLOBEX, "docs/report.txt", "globex own") == "docs/report.txt"
    with TenantContext.use_tenant(ACME):
        assert storage.exists("docs/report.txt")
        assert read(storage, "docs/report.txt") == b"acme secret"
        assert storage.size("docs/report.txt") == len("acme secret")
        assert storage.listdir("") == (["docs"], [])
        assert storage.listdir("docs") == ([], ["report.txt"])
        assert "/acme/docs/report.txt" in storage.url("docs/report.txt")
        assert storage.get_available_name("docs/report.txt") != "docs/report.txt"
        storage.delete("docs/report.txt")
        assert not storage.exists("docs/report.txt")
    with TenantContext.use_tenant(GLOBEX):
        assert read(storage, "docs/report.txt") == b"globex own"


def test_names_are_the_tenants_own_and_land_under_its_prefix(storage, tmp_path):
    first = save(storage, ACME, "a.txt", "1")
    second = save(storage, ACME, "a.txt", "2")
    assert first == "a.txt"
    assert second != "a.txt"
    assert "/" not in second  # the backend's alternative name, still without the prefix
    assert second.startswith("a_")
    with TenantContext.use_tenant(ACME):
        assert sorted(storage.listdir("")[1]) == sorted([first, second])
    with TenantContext.use_tenant(None):
        assert sorted(storage.storage.listdir("acme")[1]) == sorted([first, second])
        assert storage.storage.listdir("")[0] == ["acme"]


def test_file_field_saves_into_the_active_tenant(tmp_path):
    storage = TenantFileSystemStorage(location=str(tmp_path), base_url="/media/")
    with TenantContext.use_tenant(ACME):
        name = storage.generate_filename("uploads/notes.txt")
        saved = storage.save(name, ContentFile(b"x"), max_length=20)
    assert saved == "uploads/notes.txt"
    assert (tmp_path / "acme" / "uploads" / "notes.txt").read_bytes() == b"x"


def test_tenant_file_system_storage_defaults_to_media_root_and_url(tmp_path):
    with override_settings(MEDIA_ROOT=str(tmp_path), MEDIA_URL="/files/"):
        storage = TenantFileSystemStorage()
        with TenantContext.use_tenant(ACME):
            storage.save("x.txt", ContentFile(b"x"))
            assert storage.url("x.txt") == "/files/acme/x.txt"
            assert storage.path("x.txt") == str(tmp_path / "acme" / "x.txt")
    assert (tmp_path / "acme" / "x.txt").exists()


# --- hostile names ----------------------------------------------------------------------------

HOSTILE = [
    "..",
    "../x.txt",
    "../../etc/passwd",
    "a/../../x.txt",
    "a/b/../../../x.txt",
    "./../x.txt",
    "a/..",
    "....//..//x.txt",
    "../globex/secret.txt",
    "globex/../../acme",
    "/etc/passwd",
    "/tmp/x.txt",
    "/../x.txt",
    "//server/share/x.txt",
    "\\\\server\\share\\x.txt",
    "..\\x.txt",
    "a\\..\\..\\x.txt",
    "\\etc\\passwd",
    "C:\\Windows\\x.txt",
    "C:/Windows/x.txt",
    "c:x.txt",
    "file.txt:stream",
    "x\x00.txt",
    "\x00",
    "a/\x00/b.txt",
    "../\x00",
    "x\n.txt",
    "x\r.txt",
    "x\t.txt",
    "\x1b[31mx.txt",
    "x\x7f.txt",
    "a/b/../../..",
]

METHODS = {
    "save": lambda s, n: s.save(n, ContentFile(b"evil")),
    "open": lambda s, n: s.open(n, "wb"),
    "exists": lambda s, n: s.exists(n),
    "delete": lambda s, n: s.delete(n),
    "size": lambda s, n: s.size(n),
    "url": lambda s, n: s.url(n),
    "listdir": lambda s, n: s.listdir(n),
    "get_available_name": lambda s, n: s.get_available_name(n),
    "generate_filename": lambda s, n: s.generate_filename(n),
    "get_modified_time": lambda s, n: s.get_modified_time(n),
    "get_accessed_time": lambda s, n: s.get_accessed_time(n),
}


def snapshot(root):
    return sorted(
        (os.path.relpath(os.path.join(path, name), root), os.path.getsize(os.path.join(path, name)))
        for path, _dirs, files in os.walk(root)
        for name in files
    )


@pytest.mark.parametrize("method", METHODS)
def test_hostile_names_are_refused_and_nothing_is_written_outside(tmp_path, method):
    assert len(HOSTILE) >= 30
    media = tmp_path / "srv" / "media"
    (media / "globex").mkdir(parents=True)
    (media / "globex" / "secret.txt").write_text("globex")
    (tmp_path / "srv" / "x.txt").write_text("outside")
    storage = TenantFileSystemStorage(location=str(media), base_url="/media/")
    before = snapshot(tmp_path)
    with TenantContext.use_tenant(ACME):
        for name in HOSTILE:
            with pytest.raises(SuspiciousFileOperation):
                METHODS[method](storage, name)
    assert snapshot(tmp_path) == before
    assert not (media / "acme").exists() or snapshot(media / "acme") == []


@pytest.mark.parametrize("backend", ["memory", "s3"])
def test_hostile_names_are_refused_on_other_backends(request, backend):
    if backend == "memory":
        storage = TenantStorage(InMemoryStorage())
    else:
        storage = s3_storage(request.getfixturevalue("moto"))
    with TenantContext.use_tenant(ACME):
        for name in HOSTILE:
            with pytest.raises(SuspiciousFileOperation):
                storage.save(name, ContentFile(b"evil"))
    with TenantContext.use_tenant(None):
        assert storage.storage.listdir("") == ([], [])


def test_symlinks_out_of_the_tenant_are_refused(tmp_path):
    media = tmp_path / "media"
    (media / "acme").mkdir(parents=True)
    (media / "globex").mkdir()
    (media / "globex" / "secret.txt").write_text("globex")
    (media / "acme" / "to_globex").symlink_to(media / "globex")
    (media / "acme" / "to_tmp").symlink_to(tmp_path)
    (media / "acme" / "secret.txt").symlink_to(media / "globex" / "secret.txt")
    storage = TenantFileSystemStorage(location=str(media))
    before = snapshot(tmp_path)
    with TenantContext.use_tenant(ACME):
        for name in ["to_globex/secret.txt", "to_globex/new.txt", "to_tmp/x.txt", "secret.txt"]:
            for method in METHODS.values():
                if method is METHODS["url"] or method is METHODS["generate_filename"]:
                    continue  # neither touches the disk
                with pytest.raises(SuspiciousFileOperation, match="symlink"):
                    method(storage, name)
        for method in ("listdir", "exists"):
            with pytest.raises(SuspiciousFileOperation, match="symlink"):
                METHODS[method](storage, "to_globex")
    assert snapshot(tmp_path) == before


def test_a_tenant_directory_that_is_a_symlink_is_refused(tmp_path):
    media = tmp_path / "media"
    (media / "globex").mkdir(parents=True)
    (media / "globex" / "secret.txt").write_text("globex")
    (media / "acme").symlink_to(media / "globex")
    storage = TenantFileSystemStorage(location=str(media))
    with TenantContext.use_tenant(ACME), pytest.raises(SuspiciousFileOperation):
        storage.open("secret.txt")


# --- no tenant --------------------------------------------------------------------------------


def test_no_tenant_is_refused_unless_a_public_area_is_configured(tmp_path):
    storage = TenantFileSystemStorage(location=str(tmp_path))
    with pytest.raises(NoTenantActive, match=r"OPTIONS\['public'\]"):
        storage.save("x.txt", ContentFile(b"x"))
    with pytest.raises(NoTenantActive):
        storage.exists("x.txt")
    public = TenantFileSystemStorage(location=str(tmp_path), base_url="/m/", public="_public")
    assert public.save("x.txt", ContentFile(b"x")) == "x.txt"
    assert public.url("x.txt") == "/m/_public/x.txt"
    assert (tmp_path / "_public" / "x.txt").exists()
    with TenantContext.use_tenant(ACME):
        assert not public.exists("x.txt")


@pytest.mark.parametrize("public", ["acme", "", "a/b", "../x", 7])
def test_public_area_that_could_be_a_tenants_is_refused(public):
    with pytest.raises((ConfigurationError, SuspiciousFileOperation)):
        TenantStorage(InMemoryStorage(), public=public)


def test_unknown_wrapped_backend_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match=r"no\.such\.Storage"):
        TenantStorage("no.such.Storage")


# --- STORAGES, collectstatic and tenant deletion ----------------------------------------------


def storages_setting(media):
    return {
        "default": {
            "BACKEND": "omnitenant.storage.TenantStorage",
            "OPTIONS": {
                "storage": "django.core.files.storage.FileSystemStorage",
                "options": {"location": str(media), "base_url": "/media/"},
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def test_configured_through_storages_and_collectstatic_is_unaffected(tmp_path):
    static_source = tmp_path / "assets"
    static_source.mkdir()
    (static_source / "site.css").write_text("body {}")
    with (
        override_settings(
            STORAGES=storages_setting(tmp_path / "media"),
            INSTALLED_APPS=["django.contrib.staticfiles", "omnitenant"],
            STATIC_ROOT=str(tmp_path / "static"),
            STATIC_URL="/static/",
            STATICFILES_DIRS=[str(static_source)],
        ),
    ):
        assert isinstance(storages["default"], TenantStorage)
        with TenantContext.use_tenant(ACME):
            storages["default"].save("x.txt", ContentFile(b"x"))
        call_command("collectstatic", interactive=False, verbosity=0)
    assert (tmp_path / "static" / "site.css").read_text() == "body {}"
    assert (tmp_path / "media" / "acme" / "x.txt").exists()
    assert not (tmp_path / "static" / "acme").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("drop_data", [True, False])
def test_delete_tenant_drops_or_keeps_its_files(tmp_path, drop_data):
    media = tmp_path / "media"
    with override_settings(STORAGES=storages_setting(media)):
        tenants = [create_tenant(t, t.title(), migrate=False) for t in ("stacme", "stglobex")]
        try:
            for tenant in tenants:
                save(storages["default"], tenant, "doc.txt", tenant.tenant_id)
            delete_tenant(tenants[0], drop_data=drop_data)
            kept = [p.name for p in media.iterdir() if p.name.startswith("_kept_")]
            assert not (media / "stacme").exists()
            assert (media / "stglobex" / "doc.txt").read_text() == "stglobex"
            if drop_data:
                assert kept == []
            else:
                [kept_name] = kept
                assert kept_name.endswith("_stacme")
                assert (media / kept_name / "doc.txt").read_text() == "stacme"
            # A new tenant with the same id starts without the old one's files.
            with TenantContext.use_tenant(SimpleNamespace(tenant_id="stacme")):
                assert not storages["default"].exists("doc.txt")
        finally:
            for tenant in tenants:
                deprovision_tenant(tenant, drop_data=True)


@pytest.mark.django_db(transaction=True)
def test_a_failed_deletion_keeps_the_files_in_place(tmp_path, monkeypatch):
    media = tmp_path / "media"
    with override_settings(STORAGES=storages_setting(media)):
        tenant = create_tenant("stfail", "Fail", migrate=False)
        try:
            save(storages["default"], tenant, "doc.txt", "kept")

            def refuse(*args, **kwargs):
                raise RuntimeError("delete refused")

            monkeypatch.setattr(type(tenant), "delete", refuse)
            with pytest.raises(RuntimeError, match="delete refused"):
                delete_tenant(tenant, drop_data=True)
            assert (media / "stfail" / "doc.txt").read_text() == "kept"
        finally:
            monkeypatch.undo()
            delete_tenant(tenant, drop_data=True)
