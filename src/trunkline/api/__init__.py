"""The HTTP surface: Vonage-compatible REST, and trunkline's own sim and admin APIs."""

from trunkline.api.app import create_app

__all__ = ["create_app"]
