"""The API's routes: one ViewSet per resource on a router, mapped as organizations/api/urls.py says.

Behaviour through these routes (bodies, envelopes, 405s, trailing slashes) is in
tests/test_contract.py; this pins the map itself.
"""

from __future__ import annotations

import pytest
from django.urls import resolve

from organizations.api import views

EVERY_METHOD = {"get": "list", "post": "create", "put": "update", "delete": "destroy"}
ROUTES = [
    ("/organization/", views.OrganizationViewSet, EVERY_METHOD),
    ("/organization/members/", views.MemberViewSet, {"get": "list", "post": "create", "delete": "destroy"}),
    ("/organization/members/accept/", views.MemberViewSet, {"post": "accept"}),
    ("/organization/audit/", views.AuditViewSet, {"get": "list"}),
    ("/apikey/", views.ApiKeyViewSet, {"get": "list", "post": "create"}),
    ("/apikey/12/", views.ApiKeyViewSet, {"get": "retrieve", "put": "update", "delete": "destroy"}),
]  # fmt: skip


@pytest.mark.parametrize(("path", "viewset", "actions"), ROUTES)
@pytest.mark.parametrize("slash", [True, False])
def test_each_path_maps_to_its_viewset_with_or_without_the_slash(
    path: str, viewset: type, actions: dict[str, str], slash: bool
) -> None:
    match = resolve(path if slash else path.rstrip("/"))
    assert match.func.cls is viewset
    assert {method: action for method, action in match.func.actions.items() if method != "head"} == actions


def test_a_key_id_is_any_path_segment() -> None:
    # A malformed id reaches the view, which answers 404 apikey_not_found (not the site's 404 page).
    assert resolve("/apikey/not-a-number.json/").kwargs == {"key_id": "not-a-number.json"}
