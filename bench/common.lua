-- Shared by the benchmark's wrk scripts: the request list, the thread ids, the JSON report.
--
-- Environment (set by bench/run.py):
--   BENCH_SPEC     a file of requests, one per line: METHOD <tab> PATH <tab> KEY <tab> BODY
--   BENCH_THREADS  wrk's thread count (each thread takes every BENCH_THREADS-th line)
--   BENCH_OUT      where done() writes the run's numbers as JSON

local M = {}

function M.load_spec()
  local lines = {}
  for line in io.lines(os.getenv("BENCH_SPEC")) do
    local method, path, key, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if method then
      table.insert(lines, { method = method, path = path, key = key, body = body })
    end
  end
  return lines
end

-- The lines this thread uses: disjoint between threads, so two threads never write the same row
-- with the same value at once.
function M.my_share(lines, id)
  local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
  local mine = {}
  for i, line in ipairs(lines) do
    if #lines < threads or (i - 1) % threads == id then
      table.insert(mine, line)
    end
  end
  return mine
end

function M.format(method, path, key, body)
  local headers = {}
  if key ~= "" then
    headers["authorization"] = key
  end
  if body ~= nil and body ~= "" then
    headers["content-type"] = "application/json"
    return wrk.format(method, path, headers, body)
  end
  return wrk.format(method, path, headers)
end

-- setup() runs in the main state once per thread before its init(): number the threads.
local next_id = 0
function M.setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function M.done(summary, latency, requests)
  local e = summary.errors
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f, "stdev": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, latency.stdev
  ))
  out:close()
end

return M
