"""The product's tables, as a tutorial's models would describe them (unmanaged: the product owns them)."""

from __future__ import annotations

from django.db import models


class Person(models.Model):
    id = models.UUIDField(primary_key=True)
    email = models.EmailField()
    name = models.CharField(max_length=255)
    is_active = models.BooleanField()

    class Meta:
        managed = False
        db_table = "organizations_user"

    @property
    def is_authenticated(self) -> bool:
        return True


class Organization(models.Model):
    id = models.CharField(primary_key=True, max_length=64)
    name = models.CharField(max_length=100)
    management_email = models.EmailField()
    website = models.URLField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "organizations_organization"


class Membership(models.Model):
    user = models.ForeignKey(Person, on_delete=models.DO_NOTHING)
    organization = models.ForeignKey(Organization, on_delete=models.DO_NOTHING, related_name="memberships")
    role = models.CharField(max_length=20)

    class Meta:
        managed = False
        db_table = "organizations_membership"


class Key(models.Model):
    user = models.ForeignKey(Person, on_delete=models.DO_NOTHING)
    lookup = models.CharField(max_length=16)
    digest = models.CharField(max_length=64)
    revoked_at = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = "organizations_apikey"
