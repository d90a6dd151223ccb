-- The hooks every bench script shares, loaded first with dofile: threads numbered from 1 (the
-- global `thread_number`), and at the end one line `BENCH_RESULT {json}` for bench/processes.py.
-- A script's request() adds 1 to the global `sent` for each request it makes: what wrk sent but
-- saw no answer to by the end of the run is `sent` minus `requests`.

local threads = {}
sent = 0

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_number", #threads)
end

function done(summary, latency, requests)
  local errors = summary.errors
  local made = 0
  for _, thread in ipairs(threads) do
    made = made + thread:get("sent")
  end
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "sent": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d,'
      .. ' "status_errors": %d, "socket_errors": %d, "timeouts": %d}\n',
    summary.requests, made, summary.duration, math.floor(latency:percentile(50)),
    math.floor(latency:percentile(99)), errors.status, errors.connect + errors.read + errors.write, errors.timeout
  ))
end
