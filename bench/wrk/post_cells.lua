-- wrk script for bench/perf.py: POST /v1/cells, every request with a unique cell name and Idempotency-Key.
-- Arguments after `--`: PREFIX TOKEN TYPES TOWNS (TYPES and TOWNS comma-separated; the token's department
-- must be responsible for every type, or be the lead office). Names are "PREFIX <thread>-<n>", keys
-- "PREFIX-<thread>-<n>" (spaces as dashes). Counts the requests sent and the answers by status class; done() prints one line
-- `WRKJSON {...}` with them, wrk's counts and the latency percentiles (microseconds).

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

local function split(text)
   local items = {}
   for item in string.gmatch(text, "[^,]+") do
      table.insert(items, item)
   end
   return items
end

local prefix, key_prefix, token, types, towns
local counter = 0
sent, n201, n2xx, n3xx, n4xx, n5xx, sample = 0, 0, 0, 0, 0, 0, ""

function init(args)
   prefix, token, types, towns = args[1], args[2], split(args[3]), split(args[4])
   key_prefix = string.gsub(prefix, "[^%w_.-]", "-")  -- keys are visible ASCII: no spaces
end

function request()
   counter = counter + 1
   sent = counter
   local body = string.format(
      '{"type": "%s", "name": "%s %d-%d", "town": "%s", "address": "压测路 %d 号", "contact": "perf@example.invalid"}',
      types[counter % #types + 1], prefix, tid, counter, towns[counter % #towns + 1], counter)
   local headers = {
      ["Host"] = wrk.headers["Host"],
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = string.format("%s-%d-%d", key_prefix, tid, counter),
   }
   return wrk.format("POST", "/v1/cells", headers, body)
end

function response(status, headers, body)
   if status == 201 then
      n201 = n201 + 1
   elseif status < 300 then
      n2xx = n2xx + 1
   elseif status < 400 then
      n3xx = n3xx + 1
   elseif status < 500 then
      n4xx = n4xx + 1
   else
      n5xx = n5xx + 1
   end
   if status ~= 201 and sample == "" then
      sample = string.format("%d %s", status, string.sub(body or "", 1, 300))
   end
end

function done(summary, latency, requests)
   local total = {sent = 0, n201 = 0, n2xx = 0, n3xx = 0, n4xx = 0, n5xx = 0}
   for _, thread in ipairs(threads) do
      for name, _ in pairs(total) do
         total[name] = total[name] + thread:get(name)
      end
   end
   for _, thread in ipairs(threads) do
      local first = thread:get("sample")
      if first ~= "" then
         io.write("WRKSAMPLE " .. first .. "\n")
         break
      end
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
      '"status": %d, "timeout": %d, "p50": %.0f, "p90": %.0f, "p99": %.0f, "max": %.0f, "mean": %.1f, ' ..
      '"sent": %d, "n201": %d, "n2xx": %d, "n3xx": %d, "n4xx": %d, "n5xx": %d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      total.sent, total.n201, total.n2xx, total.n3xx, total.n4xx, total.n5xx))
end
