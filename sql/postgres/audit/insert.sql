INSERT INTO audit_log (actor, actor_email, action, target, outcome, status_code, before, after, method, path, query,
                       ip, user_agent, request_id)
VALUES (%(actor)s, %(actor_email)s, %(action)s, %(target)s, %(outcome)s, %(status_code)s, %(before)s, %(after)s,
        %(method)s, %(path)s, %(query)s, %(ip)s, %(user_agent)s, %(request_id)s)
RETURNING audit_id
