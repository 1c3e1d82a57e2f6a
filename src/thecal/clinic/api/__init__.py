"""The clinic's JSON API (FastAPI, OpenAPI at /openapi.json): thin routes over the service."""

from thecal.clinic.api.app import create_app

__all__ = ["create_app"]
