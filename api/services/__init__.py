"""Service layer: owns transactions and Stripe calls; routes only translate HTTP."""
