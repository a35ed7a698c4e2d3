-- wrk script for the API benchmark: POST a purchase event per request, each with its own id
-- (<prefix>-<thread>-<n>) and a body made from the thread and the counter alone, so that
-- bench_api_events.py can send exactly the same events again. Arguments: the path, the id
-- prefix, the number of friends. Prints, per thread, the next counter and what came back.
local threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  prefix = args[2]
  friends = tonumber(args[3])
  n = 0
  answered = 0
  stored = 0
  failed = 0
  wrk.headers["Content-Type"] = "application/json"
end

-- wrk calls this once more on the first thread before the run, to check the request it
-- builds: that thread's event 0 is made but never sent.
function request()
  local cents = 500 + (n * 7 + tid * 13) % 49500
  local body = string.format(
    '{"id":"%s-%d-%d","type":"purchase","email":"f%d@bench.test","amount":"%d.%02d","currency":"EUR"}',
    prefix, tid, n, (tid * 7919 + n * 104729) % friends, math.floor(cents / 100), cents % 100)
  n = n + 1
  return wrk.format("POST", path, nil, body)
end

function response(status, headers, body)
  answered = answered + 1
  if status >= 400 then
    failed = failed + 1
  elseif status == 201 and string.find(body, '"stored":true', 1, true) then
    stored = stored + 1
  end
end

function done(summary, latency, requests)
  io.write(string.format("duration_us %d\n", summary.duration))
  for _, thread in ipairs(threads) do
    io.write(string.format("thread %d next %d answered %d stored %d failed %d\n",
      thread:get("tid"), thread:get("n"), thread:get("answered"), thread:get("stored"),
      thread:get("failed")))
  end
end
