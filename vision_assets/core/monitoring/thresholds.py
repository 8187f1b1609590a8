"""Monitoring defaults that configuration reads at import time, apart from the numerical code (numpy stays out of
loading the code location)."""

DRIFT_P_VALUE = 0.01  # below it a partition is out of the distribution the champion was trained on
