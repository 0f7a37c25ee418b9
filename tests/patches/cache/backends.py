from django.core.cache.backends.locmem import LocMemCache


class ExtendedLocMemCache(LocMemCache):
    """A backend with a key-taking method omnitenant has never heard of."""

    def get_and_delete(self, key, version=None):
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            value = self._cache.get(key)
            self._delete(key)
        return None if value is None else __import__("pickle").loads(value)
