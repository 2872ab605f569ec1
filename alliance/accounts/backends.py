"""Sign-in backend: Django's, loading the user together with their agency membership."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from .models import User


class MemberBackend(ModelBackend):
    """Every signed-in request needs the user's membership (role, agency): one query for both."""

    def get_user(self, user_id):
        try:
            user = User._default_manager.select_related("membership").get(pk=user_id)
        except User.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
