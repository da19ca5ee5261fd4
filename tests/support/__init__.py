"""Helpers the tests share: fake AWS backends, tiny projects and models, worker and handler fixtures."""
