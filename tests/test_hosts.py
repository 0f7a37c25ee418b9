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
