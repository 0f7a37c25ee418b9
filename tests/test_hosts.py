import pytest

from omnitenant.hosts import is_valid_hostname, normalize_host


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("Acme.Example.COM", "acme.example.com"),
        ("acme.example.com:443", "acme.example.com"),
        ("acme.example.com.", "acme.example.com"),
        ("acme.example.com.:8000", "acme.example.com"),
        ("münchen.example.com", "xn--mnchen-3ya.example.com"),
        ("localhost", "localhost"),
    ],
)
def test_normalize_host(host, expected):
    assert normalize_host(host) == expected


@pytest.mark.parametrize("host", ["", "bad host", "a..b", "-a.example.com", "acme:x", "*"])
def test_normalize_host_refuses_garbage(host):
    with pytest.raises(ValueError, match="not a valid host name"):
        normalize_host(host)


def test_hostname_length_limits():
    assert is_valid_hostname("a" * 63 + ".com")
    assert not is_valid_hostname("a" * 64 + ".com")
    assert not is_valid_hostname(".".join(["a" * 60] * 5))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("straße.test", "xn--strae-oqa.test"),
        ("Straße.Test.:8443", "xn--strae-oqa.test"),
        ("faß.de", "xn--fa-hia.de"),
        ("\uff21\uff23\uff2d\uff25.example.com", "acme.example.com"),  # full-width ACME
        ("\u0430pple.com", "xn--pple-43d.com"),  # a Cyrillic a
        ("xn--strae-oqa.test", "xn--strae-oqa.test"),
        ("XN--STRAE-OQA.test", "xn--strae-oqa.test"),
    ],
)
def test_idn_is_normalised_as_browsers_do(host, expected):
    # UTS #46 non-transitional: "ß" stays "ß" (IDNA 2003 made it "ss").
    assert normalize_host(host) == expected


@pytest.mark.parametrize(
    "host",
    ["☃.net", "xn--n3h.net", "xn--zz.example", "xn--.example", "a_b.cöm", "straße.test:x"],
)
def test_invalid_idn_hosts_are_refused(host):
    with pytest.raises(ValueError, match="not a valid host name"):
        normalize_host(host)
