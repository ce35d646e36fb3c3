-- wrk script of bench/load.py: spreads the requests over a list of paths and counts the answers
-- by status.
--
--   wrk -s bench/load.lua http://127.0.0.1:8000 -- <file of paths, one per line>
--
-- Each thread goes through the whole list in turn, from its own starting place, so that every
-- path is requested about as often as the others. done() prints one line,
-- "LOAD-SUMMARY {...}" (JSON), that bench/load.py reads: requests, duration, bytes, socket
-- errors, latency (microseconds) and the count of each status.

local threads = {}

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "r"), "usage: wrk -s load.lua URL -- PATHS_FILE")
  requests = {}
  for line in file:lines() do
    local path = line:match("^%s*(.-)%s*$")
    if path ~= "" and path:sub(1, 1) ~= "#" then
      table.insert(requests, wrk.format("GET", path))
    end
  end
  file:close()
  assert(#requests > 0, "no path in " .. args[1])
  position = (thread_number * 7919) % #requests
  statuses = {}
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, _)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  table.sort(parts)
  local errors = summary.errors
  io.write(string.format(
    'LOAD-SUMMARY {"requests": %d, "duration_us": %d, "bytes": %d, "paths": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}, '
      .. '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "p50": %d, "p90": %d, '
      .. '"p99": %d, "p999": %d, "max": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes, #(threads[1]:get("requests") or {}),
    errors.connect, errors.read, errors.write, errors.timeout, errors.status,
    latency.min, latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    table.concat(parts, ", ")
  ))
end
