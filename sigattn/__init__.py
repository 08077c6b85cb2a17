"""sigattn: attention-augmented 1D CNNs for vibration and ECG classification."""

__version__ = "0.1.0"
