"""Expected treatment response (ETR): fit, predict, percentile, success probability, calibrate.

Modules, by job (docs/etr.md explains the model):

model       ``EtrModel`` and its prediction maths (trajectories, percentile, success probability)
io          the model file format: ``load_model``, ``model_from_dict``, ``default_model``, saving
fitting     ``fit`` on the closed episodes of an administrations table
calibration ``calibrate`` on held-out episodes, with ``auc``, ``sensitivity_specificity``,
            ``calibration_table``

Every public name is importable from ``alliance.science.etr`` itself.
"""

from alliance.science.etr.calibration import (
    auc,
    calibrate,
    calibration_table,
    sensitivity_specificity,
)
from alliance.science.etr.fitting import (
    DEFAULT_MIN_EPISODES,
    Longitudinal,
    fit,
    longitudinal_scores,
)
from alliance.science.etr.io import (
    MODELS_DIR,
    ModelFileError,
    default_model,
    load_model,
    model_from_dict,
)
from alliance.science.etr.model import (
    METHOD,
    MODEL_FORMAT,
    MODEL_VERSION,
    EtrError,
    EtrModel,
    EtrParameters,
    FloatArray,
    Trajectory,
    model_to_dict,
    save_model,
)

__all__ = [
    "DEFAULT_MIN_EPISODES",
    "METHOD",
    "MODELS_DIR",
    "MODEL_FORMAT",
    "MODEL_VERSION",
    "EtrError",
    "EtrModel",
    "EtrParameters",
    "FloatArray",
    "Longitudinal",
    "ModelFileError",
    "Trajectory",
    "auc",
    "calibrate",
    "calibration_table",
    "default_model",
    "fit",
    "load_model",
    "longitudinal_scores",
    "model_from_dict",
    "model_to_dict",
    "save_model",
    "sensitivity_specificity",
]
