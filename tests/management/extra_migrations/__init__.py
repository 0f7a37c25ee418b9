"""tests.tenantapp's migrations plus one more, for the migrate-inside-a-tenant tests."""
