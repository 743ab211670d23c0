"""Readings to findings: detectors (scikit-learn estimators), the live monitor, backtests and the simulator."""
