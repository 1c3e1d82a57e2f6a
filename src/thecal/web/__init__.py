"""The clinic's web pages (server-rendered Jinja2 with htmx served from the package),
mounted beside the JSON API in one application: `create_web_app(clinic)`."""

from thecal.web.app import create_web_app

__all__ = ["create_web_app"]
