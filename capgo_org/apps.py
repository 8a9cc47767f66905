"""App configurations of libraries, fitted to the site."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django_tasks_db.apps import TasksAppConfig


class TasksDatabaseConfig(TasksAppConfig):
    """django-tasks-db, named in the admin in the viewer's language (its own name is English only)."""

    verbose_name = _("Background tasks")
