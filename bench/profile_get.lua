-- wrk script: GET /v1/profiles/user-N for random N in [0, PROFILES), keep-alive.
--
--   wrk -t1 -c32 -d15s --latency -s bench/profile_get.lua http://127.0.0.1:PORT -- PROFILES [READ_TOKEN]
--
-- At the end it prints one machine-readable line:
--   WRK_RESULT requests=… ok=… non200=… errors=… duration_s=… req_per_s=… p50_ms=… p99_ms=… p999_ms=… max_ms=…

local profiles = 1000000
local head, tail
-- The request is built by concatenation, not wrk.format (which walks a
-- headers table per call): the same bytes for less client CPU.
function init(args)
  profiles = tonumber(args[1] or "1000000")
  local token = args[2]
  local auth = (token and token ~= "") and ("Authorization: Bearer " .. token .. "\r\n") or ""
  head = "GET /v1/profiles/user-"
  tail = " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] .. "\r\n" .. auth .. "\r\n"
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  return head .. math.random(0, profiles - 1) .. tail
end

-- No response() callback: with one, wrk hands every response's headers to
-- Lua, which costs the client CPU that the server (on the same cores) then
-- lacks. wrk counts statuses outside 2xx/3xx itself (summary.errors.status);
-- the server answers 200 or an error status, never a 3xx.
function done(summary, latency, requests)
  local total_non200 = summary.errors.status
  local total_ok = summary.requests - total_non200
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRK_RESULT requests=%d ok=%d non200=%d errors=%d duration_s=%.3f req_per_s=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
    summary.requests, total_ok, total_non200, errors, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
end
