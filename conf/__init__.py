# Makes conf/ importable as the package textclf.conf (see pyproject.toml), so Hydra can load the
# configs with config_path="pkg://textclf.conf" wherever textclf is installed.
