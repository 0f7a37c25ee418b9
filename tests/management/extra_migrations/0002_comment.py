import importlib

Migration = importlib.import_module("tests.tenantapp.migrations.0002_comment").Migration
