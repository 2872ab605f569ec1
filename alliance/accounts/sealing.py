"""Secrets the server must read back, sealed at rest: two-factor seeds, webhook signing keys,
the research-export key.

A password or an API token is stored as a hash, but these three are used as keys, so they are
kept encrypted instead (Fernet from ``cryptography``: AES-128-CBC with an HMAC-SHA256, each value
with its own random IV). A copy of the database or of a backup alone then gives no way to pass
someone's two-factor check, forge a webhook or re-identify a research export.

The key is derived (HKDF-SHA256) from ``ALLIANCE_AUDIT_KEY``, else from ``SECRET_KEY``, the key
that already signs the audit trail and the backups: a restore needs the same one. Values sealed
under ``SECRET_KEY`` or one of ``SECRET_KEY_FALLBACKS`` are still read, so the key can be
rotated the way Django's own signing is; ``alliance reseal`` then seals every value again under
the current key before the old one is dropped.

A backup holds the sealed texts and is restored on a server with the same key (the restore
checks the backup's manifest with that key first).
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, models

PURPOSE = b"alliance sealed fields v1"


class SealedWithAnotherKey(ImproperlyConfigured):
    """A sealed value no configured key opens: the server runs with another key than the one
    that sealed it (a restore onto a server with another ALLIANCE_AUDIT_KEY / SECRET_KEY)."""


def _fernet(key_material: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
        key_material.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


@functools.lru_cache(maxsize=4)
def _keys(current: str, older: tuple[str, ...]) -> MultiFernet:
    ordered = list(dict.fromkeys((current, *older)))
    return MultiFernet([_fernet(material) for material in ordered])


def server_key_material() -> str:
    """What the server's own keys are derived from: ``ALLIANCE_AUDIT_KEY``, else ``SECRET_KEY``.

    The sealed fields and the backups' manifests derive their keys from it; the audit trail's
    lane heads follow the same rule with a derivation of their own (``audit.models.head_key``).
    A backup is restored on a server with the same material."""
    return getattr(settings, "ALLIANCE_AUDIT_KEY", "") or settings.SECRET_KEY


def keyring() -> MultiFernet:
    """The current key first (it seals), then every key a value may have been sealed with."""
    fallbacks = tuple(getattr(settings, "SECRET_KEY_FALLBACKS", ()))
    return _keys(server_key_material(), (settings.SECRET_KEY, *fallbacks))


def seal(plain: str) -> str:
    return keyring().encrypt(plain.encode()).decode("ascii")


def unseal(sealed: str) -> str:
    try:
        return keyring().decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, UnicodeEncodeError):
        raise SealedWithAnotherKey(
            "A sealed secret cannot be opened with this server's key: run with the "
            "ALLIANCE_AUDIT_KEY (or SECRET_KEY, or keep the old one in SECRET_KEY_FALLBACKS) "
            "of the server that stored it."
        ) from None


def sealed_fields() -> list[tuple[type[models.Model], str]]:
    """Every (model, field name) that holds a sealed value."""
    from django.apps import apps

    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, SealedCharField)
    ]


def reseal_all() -> dict[str, int]:
    """Seal every value again under the current key; how many per model (``alliance reseal``)."""
    counts = {}
    for model, name in sealed_fields():
        rows = model._default_manager.exclude(**{name: ""}).values_list("pk", name)
        for pk, plain in rows:  # opened with whichever key sealed it, sealed with the current one
            model._default_manager.filter(pk=pk).update(**{name: plain})
        counts[model._meta.label] = len(rows)
    return counts


@checks.register(checks.Tags.database)
def sealed_values_open(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:  # noqa: ARG001
    """`alliance check`: every sealed value opens with this server's keys (a wrong key found
    before the first sign-in that needs it, not by a failed page)."""
    if not databases:
        return []
    for model, name in sealed_fields():
        try:
            for _value in model._default_manager.exclude(**{name: ""}).values_list(name, flat=True):
                pass
        except SealedWithAnotherKey as error:
            return [checks.Error(str(error), obj=model, id="alliance.E001")]
        except DatabaseError:
            return []  # no tables yet: `alliance migrate` has not run
    return []


def seal_existing(app_label: str, model_name: str, name: str):
    """A migration step sealing the plain values a column held before it was sealed."""
    from django.db import migrations

    def rows(apps):
        model = apps.get_model(app_label, model_name)
        return model, list(model.objects.exclude(**{name: ""}).values_list("pk", name))

    def forward(apps, schema_editor):  # noqa: ARG001
        model, found = rows(apps)
        for pk, plain in found:
            model.objects.filter(pk=pk).update(**{name: seal(plain)})

    def backward(apps, schema_editor):  # noqa: ARG001
        model, found = rows(apps)
        for pk, sealed in found:
            model.objects.filter(pk=pk).update(**{name: unseal(sealed)})

    return migrations.RunPython(forward, backward)


class SealedCharField(models.CharField):
    """A text column holding the value sealed; the model attribute holds it in the clear.

    ``max_length`` bounds the sealed text (a 64-character secret seals to 184 characters). The
    column cannot be searched by value (each seal has its own IV). A backup (dumpdata) writes
    the sealed text, and loading it back opens it; a value written before sealing existed (a
    plain text in an old backup) loads as it is and is sealed when saved.
    """

    def from_db_value(self, value, expression, connection):  # noqa: ARG002
        if value is None or value == "":
            return value
        return unseal(value)

    def get_prep_value(self, value):
        # Not CharField's own: it passes the value through to_python, which would try to open it.
        value = models.Field.get_prep_value(self, value)
        if value is None or value == "":
            return value
        return seal(str(value))

    def value_to_string(self, obj) -> str:
        value = self.value_from_object(obj)
        return seal(str(value)) if value else ""

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return value
        try:
            return keyring().decrypt(value.encode("ascii")).decode()
        except (InvalidToken, UnicodeEncodeError):
            return value  # already in the clear: a form's input, or an older backup
