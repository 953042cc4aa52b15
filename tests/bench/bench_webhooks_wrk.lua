-- wrk script for tests/bench/bench_webhooks.py: POST pre-built requests, exactly TOTAL of them.
--
-- Usage: wrk -t1 -c C -d 600s -s bench_webhooks_wrk.lua URL -- DATAFILE TOTAL
-- DATAFILE has one request per line: `<Stripe-Signature header>\t<compact JSON body>`, already signed by
-- the bench (no HMAC in Lua, and none in the timed loop). Request i is line i: `delay()` (called by wrk
-- before each request, outside the latency clock) reserves a slot and parks the connection once TOTAL are
-- reserved, so no request is repeated or abandoned. wrk itself always runs for its whole -d duration, so
-- the script times first request -> last response with CLOCK_MONOTONIC (LuaJIT ffi), prints BENCH_DONE
-- when the last response is in, and the bench then sends SIGINT to end the run; `done()` prints the
-- figures as one BENCH_JSON line. One wrk thread, so one Lua state counts everything.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")

local function now_us()
   ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
   return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local requests = {}
local nreq = 0
local next_i = 0
local reserved = 0
local total = 0
local threads = {}
done_n = 0
non2xx = 0
first_us = 0
last_us = 0

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   total = tonumber(args[2])
   for line in io.lines(args[1]) do
      local sig, body = line:match("^([^\t]*)\t(.*)$")
      local headers = {["Content-Type"] = "application/json"}
      if sig ~= "" then headers["Stripe-Signature"] = sig end
      nreq = nreq + 1
      requests[nreq] = wrk.format("POST", wrk.path, headers, body)
   end
   assert(nreq >= total, "data file holds fewer requests than TOTAL")
end

function delay()
   if reserved < total then
      reserved = reserved + 1
      return 0
   end
   return 3600000 -- parked: every request has been handed out
end

function request()
   -- wrk calls request() once on thread 0's state to check it before the run, with no delay() first:
   -- answer that call without consuming a line.
   if reserved == 0 then return requests[1] end
   next_i = next_i + 1
   if next_i == 1 then first_us = now_us() end
   return requests[next_i]
end

function response(status, headers, body)
   done_n = done_n + 1
   if status < 200 or status >= 300 then non2xx = non2xx + 1 end
   if done_n == total then
      last_us = now_us()
      io.write("BENCH_DONE\n")
      io.flush()
      wrk.thread:stop()
   end
end

function done(summary, latency, reqs)
   local t = threads[1]
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d,'
      .. ' "max_us": %d, "non2xx": %d, "socket_errors": %d}\n',
      t:get("done_n"), t:get("last_us") - t:get("first_us"), latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, t:get("non2xx"), e.connect + e.read + e.write + e.timeout))
end
