"""eotrust: trusted, decentralised deep learning on Earth-observation data."""

__version__ = "0.1.0"
