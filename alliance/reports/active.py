"""Which ETR model an agency uses: its activated fitted model, else the shipped default.

Kept free of care imports so ``alliance.care`` can ask without an import cycle.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from alliance.science import etr

from .models import FittedModel


def active_model(agency_id: int | None, instrument: str) -> etr.EtrModel:
    """The agency's activated model for the instrument, else the shipped provisional default."""
    if agency_id is not None:
        stored = (
            FittedModel.objects.filter(agency_id=agency_id, instrument=instrument, active=True)
            .values_list("parameters", flat=True)
            .first()
        )
        if stored:
            return etr.model_from_dict(stored)
    return etr.default_model(instrument)


def model_description(model: etr.EtrModel) -> str:
    """What every graph and report says about its model."""
    if model.provisional:
        return _("provisional default model")
    return _("agency model fitted on %(n)s episodes on %(date)s") % {
        "n": model.n_episodes,
        "date": model.fitted_on,
    }
