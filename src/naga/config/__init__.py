"""``clicfg``: a command line from a config class; config files, experiments, overrides."""

from naga._plain import to_plain
from naga._provenance import provenance_of
from naga.config import _replay  # noqa: F401  (registers how judgements replay config files)
from naga.config._decorator import ClicfgFunction, clicfg
from naga.config._schema import ConfigSpec
from naga.config._values import parse_value

__all__ = ["ClicfgFunction", "ConfigSpec", "clicfg", "parse_value", "provenance_of", "to_plain"]
