"""Webhook pages (server-rendered)."""

from __future__ import annotations

urlpatterns: list = []
