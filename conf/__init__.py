"""Makes conf/ importable as the package textclf.conf (see pyproject.toml), so Hydra can load the
configs with config_path="pkg://textclf.conf" wherever textclf is installed.

Hydra imports this package before it reads a config, so it is also where the one config node that
comes from code is registered: ``data/base``, the settings every dataset shares (seed,
val_fraction, max_tokens, max_memories, memory_window, download), with the defaults of the class
that reads them (`DataSource`). Each conf/data/*.yaml lists ``base`` first in its defaults (Hydra's
per-option schema pattern) and sets only what differs. A plain node, not the dataclass as a typed
schema: the values are checked by core/config_rules.py, which names the key, the rule and the value
in one message for every setting alike.
"""

from hydra.core.config_store import ConfigStore

from textclf.data.example import DataSource

ConfigStore.instance().store(group="data", name="base", node=DataSource.shared_settings())
