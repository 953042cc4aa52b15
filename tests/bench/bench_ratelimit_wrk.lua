-- wrk script for tests/bench/bench_ratelimit.py: paced GETs as several users from several client IPs.
--
-- Usage: wrk -t1 -c C -d Ns -s bench_ratelimit_wrk.lua URL -- USERSFILE RATE C
-- USERSFILE: one `<bearer token>\t<client ip>` per line; request i goes as user i mod n (X-Forwarded-For
-- names the client IP; the server trusts it from 127.0.0.1 only). RATE is the target total requests/s:
-- each of the C connections waits C/RATE s before each request (delay(), outside the latency clock).
-- done() prints one BENCH_JSON line: counts by status class and latency percentiles of every response.

local users = {}
local n = 0
local i = 0
local pause_ms = 0
ok = 0
limited = 0
server_errors = 0
other = 0
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   for line in io.lines(args[1]) do
      local token, ip = line:match("^([^\t]*)\t(.*)$")
      n = n + 1
      users[n] = {token = token, ip = ip}
   end
   pause_ms = 1000 * tonumber(args[3]) / tonumber(args[2])
end

function delay()
   return pause_ms
end

function request()
   i = i + 1
   local u = users[(i % n) + 1]
   return wrk.format("GET", wrk.path, {["Authorization"] = "Bearer " .. u.token, ["X-Forwarded-For"] = u.ip})
end

function response(status, headers, body)
   if status >= 200 and status < 300 then ok = ok + 1
   elseif status == 429 then limited = limited + 1
   elseif status >= 500 then server_errors = server_errors + 1
   else other = other + 1 end
end

function done(summary, latency, reqs)
   local t = threads[1]
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "ok": %d, "limited": %d, "server_errors": %d,'
      .. ' "other": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "socket_errors": %d}\n',
      summary.requests, summary.duration, t:get("ok"), t:get("limited"), t:get("server_errors"), t:get("other"),
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect + e.read + e.write + e.timeout))
end
