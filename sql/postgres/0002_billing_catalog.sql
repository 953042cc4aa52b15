-- Default catalog (development and tests). Stripe plan ids are created on demand by the gateway.
INSERT INTO plans (id, stripe_plan_id, name, amount, currency, interval) VALUES
    ('pro_monthly', 'cashbook_pro_monthly', 'Pro (monthly)', 1500, 'usd', 'month'),
    ('team_monthly', 'cashbook_team_monthly', 'Team (monthly)', 4900, 'usd', 'month')
ON CONFLICT (id) DO NOTHING;

INSERT INTO credit_packs (id, name, credits, amount, currency) VALUES
    ('resume_1', 'One resume', 1, 499, 'usd'),
    ('resume_5', 'Five resumes', 5, 1999, 'usd')
ON CONFLICT (id) DO NOTHING;
