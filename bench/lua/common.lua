-- Shared by every scenario (bench/wrk.py puts DATA above this and the scenario below).
-- `completed` counts the scenario's units (a token, a login, a document); `unexpected`
-- the answers whose status the scenario did not expect (wrk's own `errors` are the
-- socket errors and time-outs).
completed = 0
unexpected = 0
local threads = {}

FORM = "application/x-www-form-urlencoded"

function count(status, expected)
  if status == expected then
    completed = completed + 1
  else
    unexpected = unexpected + 1
  end
end

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local units, odd = 0, 0
  for _, thread in ipairs(threads) do
    units = units + thread:get("completed")
    odd = odd + thread:get("unexpected")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests": %d, "duration_us": %d, "completed": %d, "unexpected": %d, '
    .. '"errors": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, units, odd,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
