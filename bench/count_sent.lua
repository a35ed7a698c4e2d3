-- wrk script: count the requests sent, so the clicks stored can be compared exactly (wrk's
-- own total leaves out the requests still in flight when the run's time is up).
sent = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function request()
  sent = sent + 1
  return wrk.format()
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("sent")
  end
  -- wrk calls request() once more, before the run, to check the request it builds.
  io.write(string.format("Requests sent: %d\n", total - 1))
end
