"""The FastAPI billing service: subscriptions, credit purchases and Stripe webhooks (see docs/api.md)."""
