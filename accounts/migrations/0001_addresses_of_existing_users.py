"""Every existing account gets its address as an allauth EmailAddress.

Before allauth, sign-up never proved an address, so an existing account's address counts as
verified only for staff (a superuser vouched for them). Everyone else verifies at their next
login (allauth sends the link); until then their API keys are refused.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    User = apps.get_model("organizations", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    known = set(EmailAddress.objects.values_list("user_id", flat=True))
    rows = [
        EmailAddress(user_id=user_id, email=email.lower(), primary=True, verified=is_staff)
        for user_id, email, is_staff in User.objects.values_list("id", "email", "is_staff").iterator()
        if user_id not in known
    ]
    EmailAddress.objects.bulk_create(rows, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("account", "0009_emailaddress_unique_primary_email"),
        ("organizations", "0003_membership_covering_index"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
