"""Instruments as data: one TOML definition file per instrument and language.

The shipped definitions (ORS, SRS, CORS, CSRS, YCORS, YCSRS, GSRS, PHQ-9, GAD-7) are in ``data/``;
an agency adds its licensed wording or translations in a directory named by
``ALLIANCE_INSTRUMENT_DIRS``. ``Instrument.score`` / ``score_total`` validate a response.
See docs/instruments.md for the file format.
"""

from alliance.science.instruments.loader import (
    DATA_DIR,
    ENV_VAR,
    InstrumentFileError,
    UnknownInstrumentError,
    all_instruments,
    find_instrument,
    get_instrument,
    load_directory,
    load_file,
    load_instruments,
    reload_instruments,
)
from alliance.science.instruments.model import (
    KINDS,
    AgeBand,
    Instrument,
    Item,
    ResponseError,
    SafetyRule,
    ScoredResponse,
    step_decimals,
)

__all__ = [
    "DATA_DIR",
    "ENV_VAR",
    "KINDS",
    "AgeBand",
    "Instrument",
    "InstrumentFileError",
    "Item",
    "ResponseError",
    "SafetyRule",
    "ScoredResponse",
    "UnknownInstrumentError",
    "all_instruments",
    "find_instrument",
    "get_instrument",
    "load_directory",
    "load_file",
    "load_instruments",
    "reload_instruments",
    "step_decimals",
]
