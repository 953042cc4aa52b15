SELECT severity, count(*) AS n FROM analytics.alerts WHERE status = 'open' GROUP BY severity
