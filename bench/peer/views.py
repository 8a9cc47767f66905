"""One endpoint, the tutorial way: a token looked up through the ORM, a ModelSerializer, a ListAPIView.

It lists the caller's first 20 organizations with their role in each: the kind of read the
product's endpoints do (an authenticated key, organizations joined with memberships), with
none of the product's rules. Not a straw man: the queryset selects the user with the key and
prefetches the caller's memberships, so a response costs three queries whatever its size.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from rest_framework import authentication, exceptions, generics, permissions, serializers
from rest_framework.request import Request

from bench.peer.models import Key, Membership, Organization, Person
from organizations import api_keys  # the stored digests are the product's


class KeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Person, Key] | None:
        presented = request.META.get("HTTP_AUTHORIZATION", "")
        lookup = api_keys.parse_lookup(presented)
        if lookup is None:
            return None
        try:
            key = Key.objects.select_related("user").get(lookup=lookup, revoked_at__isnull=True)
        except Key.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid key") from None
        if not api_keys.verify(presented, key.digest) or not key.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid key")
        return key.user, key


class OrganizationSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["id", "name", "management_email", "website", "created_at", "role"]

    def get_role(self, org: Organization) -> str | None:
        return org.mine[0].role if org.mine else None


class OrganizationList(generics.ListAPIView):
    authentication_classes = [KeyAuthentication]
    permission_classes = [permissions.IsAuthenticated]
    serializer_class = OrganizationSerializer

    def get_queryset(self) -> QuerySet[Organization]:
        user = self.request.user
        mine = Prefetch("memberships", queryset=Membership.objects.filter(user=user), to_attr="mine")
        return Organization.objects.filter(memberships__user=user).prefetch_related(mine).order_by("created_at")[:20]
