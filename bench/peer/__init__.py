"""The benchmark's yardstick: the organization list written the way a DRF tutorial writes it."""
