"""Signed public statements of an estate for a period (JSON and Chinese PDF).

Not built yet; ``GET /v1/estates/{estate}/statements`` lists none until it is.
"""
