"""Safety: adverse events after treatments and the measured healing curve that accompanies them."""
