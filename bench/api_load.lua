-- wrk script for bench/api_load.py. The phase comes from the environment:
--   BENCH_MODE     purchase | member | redeem | get (a fixed path, e.g. /terms/ or /me/)
--   BENCH_KEY      the API key (Authorization: Api-Key …), BENCH_COOKIE a session cookie for "get"
--   BENCH_MEMBERS  a file with one member number per line (purchases and member reads pick one at random)
--   BENCH_HOT      the member number whose account takes every redemption
--   BENCH_RUN      a run id, so Idempotency-Keys and external ids are fresh per request and per run
--   BENCH_WHEN     occurred_at of the purchases, BENCH_PATH the path for "get"
-- done() prints one line "RESULT {json}" with requests, seconds, p50/p99 (ms) and the status codes.

local mode = os.getenv("BENCH_MODE") or "get"
local run = os.getenv("BENCH_RUN") or "run"
local key = os.getenv("BENCH_KEY") or ""
local cookie = os.getenv("BENCH_COOKIE") or ""
local when = os.getenv("BENCH_WHEN") or "2026-01-15T10:00:00+01:00"
local path = os.getenv("BENCH_PATH") or "/terms/"
local hot = os.getenv("BENCH_HOT") or ""

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local members = {}
local n = 0
statuses = {}

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  local file = os.getenv("BENCH_MEMBERS")
  if file and file ~= "" then
    for line in io.lines(file) do
      if line ~= "" then
        table.insert(members, line)
      end
    end
  end
end

local function headers(extra)
  local h = { ["Authorization"] = "Api-Key " .. key, ["Content-Type"] = "application/json" }
  for k, v in pairs(extra or {}) do
    h[k] = v
  end
  return h
end

function request()
  n = n + 1
  local id = run .. "-" .. tid .. "-" .. n
  if mode == "purchase" then
    local member = members[math.random(#members)]
    local body = '{"member":"' .. member .. '","external_id":"wrk-' .. id .. '","occurred_at":"' .. when
      .. '","channel":"in_store","currency":"EUR","lines":['
      .. '{"sku":"COFFEE","category":"drinks","quantity":2,"unit_price":"3.50"},'
      .. '{"sku":"CAKE","category":"food","quantity":1,"unit_price":"4.25"},'
      .. '{"sku":"BEANS","category":"retail","quantity":1,"unit_price":"12.90"}]}'
    return wrk.format("POST", "/api/v1/purchases/", headers({ ["Idempotency-Key"] = "p-" .. id }), body)
  elseif mode == "member" then
    local member = members[math.random(#members)]
    return wrk.format("GET", "/api/v1/members/" .. member .. "/", headers())
  elseif mode == "redeem" then
    local body = '{"reward":"free-flat-white","quantity":1}'
    return wrk.format(
      "POST", "/api/v1/members/" .. hot .. "/redemptions/", headers({ ["Idempotency-Key"] = "r-" .. id }), body
    )
  else
    return wrk.format("GET", path, { ["Cookie"] = cookie })
  end
end

function response(status, hdrs, body)
  local s = tostring(status)
  statuses[s] = (statuses[s] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local t = thread:get("statuses")
    for s, c in pairs(t) do
      total[s] = (total[s] or 0) + c
    end
  end
  local parts = {}
  for s, c in pairs(total) do
    table.insert(parts, '"' .. s .. '":' .. c)
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"p50":%.2f,"p99":%.2f,"socket_errors":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    errors, table.concat(parts, ",")
  ))
end
