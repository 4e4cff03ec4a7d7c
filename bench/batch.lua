-- wrk script: POST /v1/batch with pre-built bodies of 100 events each.
--
--   wrk -t2 -c64 -d15s --latency -s bench/batch.lua http://127.0.0.1:PORT \
--       -- BODIES_FILE WRITE_KEY [RUN_TAG] [EVENTS_PER_BODY]
--
-- BODIES_FILE: one JSON body per line (bench/gen_corpus.mjs --bodies). Each
-- thread rotates through them. Every messageId in a body starts with the
-- 12-character placeholder "@@@@@@@@@@@@", replaced per request by
-- RUN_TAG(3) .. thread(2) .. sequence(7), so no two requests of a run (or of
-- runs with different tags) share a messageId and dedup never kicks in.
-- Each request carries `Authorization: Basic base64(WRITE_KEY:)`.
--
-- At the end it prints one machine-readable line:
--   WRK_RESULT requests=… ok=… non200=… errors=… duration_s=… req_per_s=… events_per_s=… p50_ms=… p99_ms=… max_ms=…
-- where events_per_s = (HTTP 200 responses / duration) × EVENTS_PER_BODY.

local threads = {}
local nthreads = 0

function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  return ((s:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

local bodies = {}
local idx = 0
local seq = 0
local headers
local tag = "000"

function init(args)
  local file = args[1]
  local key = args[2]
  if not file or not key then
    error("usage: wrk ... -s batch.lua URL -- BODIES_FILE WRITE_KEY [RUN_TAG] [EVENTS_PER_BODY]")
  end
  tag = string.sub(string.format("%3s", args[3] or "000"):gsub(" ", "0"), 1, 3)
  -- Each body is kept split at its placeholders, so a request is one
  -- table.concat (C speed) instead of a Lua pattern scan over ~75 KB, which
  -- would make wrk, not the server, the bottleneck on a 2-core machine.
  for line in io.lines(file) do
    if #line > 0 then
      local parts, pos = {}, 1
      while true do
        local s, e = string.find(line, "@@@@@@@@@@@@", pos, true)
        if not s then break end
        parts[#parts + 1] = string.sub(line, pos, s - 1)
        pos = e + 1
      end
      parts[#parts + 1] = string.sub(line, pos)
      bodies[#bodies + 1] = parts
    end
  end
  if #bodies == 0 then error("no bodies in " .. file) end
  idx = (tid * 7919) % #bodies
  events_per_body = tonumber(args[4]) or 100
  ok = 0
  non200 = 0
  first_error = ""
  headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Basic " .. base64(key .. ":"),
  }
end

function request()
  idx = idx % #bodies + 1
  seq = seq + 1
  local token = string.format("%s%02d%07d", tag, tid % 100, seq % 10000000)
  local body = table.concat(bodies[idx], token)
  return wrk.format("POST", "/v1/batch", headers, body)
end

function response(status, hdrs, body)
  if status == 200 then
    ok = ok + 1
  else
    non200 = non200 + 1
    if first_error == "" then first_error = status .. " " .. string.sub(body or "", 1, 200) end
  end
end

function done(summary, latency, requests)
  local events_per_body = 100
  local ok_total, bad_total, first = 0, 0, ""
  for _, t in ipairs(threads) do
    ok_total = ok_total + (t:get("ok") or 0)
    bad_total = bad_total + (t:get("non200") or 0)
    local fe = t:get("first_error")
    if first == "" and fe and fe ~= "" then first = fe end
    local epb = t:get("events_per_body")
    if epb then events_per_body = epb end
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "WRK_RESULT requests=%d ok=%d non200=%d errors=%d duration_s=%.3f req_per_s=%.1f events_per_s=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
    summary.requests, ok_total, bad_total, errors, secs, summary.requests / secs,
    ok_total / secs * events_per_body,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  if first ~= "" then io.write("WRK_FIRST_ERROR " .. first:gsub("\n", " ") .. "\n") end
end
