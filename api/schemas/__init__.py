"""Request and response models (amounts: integer minor units plus a decimal string for humans)."""
