from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "alliance.audit"
    label = "audit"
    verbose_name = _("Audit trail")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from alliance.accounts.models import Agency

        from .services import allow_agency_purge

        def purge_with_agency(sender, instance, **kwargs):  # noqa: ARG001
            # An agency's trail goes only with the agency itself (the PostgreSQL guard allows it).
            allow_agency_purge(instance.pk)

        pre_delete.connect(
            purge_with_agency, sender=Agency, weak=False, dispatch_uid="audit_purge_agency"
        )
