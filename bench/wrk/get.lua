-- wrk script for bench/perf.py: one fixed request; extra headers come as arguments ("Name: value") after `--`.
-- done() prints one line `WRKJSON {...}` with the counts and latency percentiles (microseconds).

function init(args)
   for _, arg in ipairs(args) do
      local name, value = arg:match("^([^:]+):%s*(.*)$")
      if name then
         wrk.headers[name] = value
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
      '"status": %d, "timeout": %d, "p50": %.0f, "p90": %.0f, "p99": %.0f, "max": %.0f, "mean": %.1f}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
