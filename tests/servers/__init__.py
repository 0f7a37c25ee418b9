"""Servers the test rig starts, kills and restarts itself, each on a free loopback port."""
