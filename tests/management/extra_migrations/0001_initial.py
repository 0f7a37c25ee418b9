import importlib

Migration = importlib.import_module("tests.tenantapp.migrations.0001_initial").Migration
