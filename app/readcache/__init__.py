"""Repeated reads answered from process memory while the figures' data version is unchanged."""
