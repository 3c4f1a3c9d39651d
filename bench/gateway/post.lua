-- wrk script for bench/bench_gateway.py: POST one chat completion per request and check answers.
--
-- Read from the environment (so no key ever sits on a command line):
--   BENCH_BODY    the JSON request body
--   BENCH_KEY     the bearer key the server wants (the gateway's master key, or the upstream key)
--   BENCH_EXPECT  a substring every good answer contains (a piece of the emulator's reply)
-- done() prints one line, "BENCHJSON {...}", with wrk's counts, latency percentiles
-- (microseconds) and the answers checked here. A run ends after wrk's -d, or early on SIGINT
-- (the soak sends one at its request count; wrk still prints its summary then).

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")

local expect = os.getenv("BENCH_EXPECT")
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   good = 0
   bad = 0
   first_bad = ""
end

function response(status, headers, body)
   if status == 200 and body ~= nil and string.find(body, expect, 1, true) then
      good = good + 1
   else
      bad = bad + 1
      if first_bad == "" then
         first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 300)
      end
   end
end

local function quote(text)
   text = string.gsub(text, '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
   end)
   return '"' .. text .. '"'
end

function done(summary, latency, requests)
   local good_total, bad_total, first = 0, 0, ""
   for _, thread in ipairs(threads) do
      good_total = good_total + (thread:get("good") or 0)
      bad_total = bad_total + (thread:get("bad") or 0)
      if first == "" then
         first = thread:get("first_bad") or ""
      end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"duration_us": %d, "requests": %d, "bytes": %d, "good": %d, "bad": %d, ' ..
      '"first_bad": %s, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, ' ..
      '"timeout": %d}, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
      summary.duration, summary.requests, summary.bytes, good_total, bad_total, quote(first),
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      latency.mean))
end
