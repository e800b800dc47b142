"""exoderm: clinic and research software for exosome therapy after barrier-disrupting procedures."""

__version__ = "0.1.0"
