-- One GraphQL POST, repeated, with every answer checked (used by benchmarks/load.py).
--
-- Read from the environment:
--   BENCH_BODY_FILE      the JSON request body
--   BENCH_AUTHORIZATION  the Authorization header's value (optional)
--   BENCH_EXPECT_FILE    substrings a good answer contains, one a line (optional)
-- An answer is bad unless its status is 200, it holds no "errors" and it contains every
-- expected substring. done() prints one line for load.py to read:
--   BENCH requests=... duration_us=... p50_us=... p99_us=... bad=... socket_errors=...

local function read_file(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.body = read_file(os.getenv("BENCH_BODY_FILE"))
  wrk.headers["Content-Type"] = "application/json"
  local authorization = os.getenv("BENCH_AUTHORIZATION")
  if authorization and authorization ~= "" then
    wrk.headers["Authorization"] = authorization
  end
  expected = {}
  local expect_file = os.getenv("BENCH_EXPECT_FILE")
  if expect_file and expect_file ~= "" then
    for line in read_file(expect_file):gmatch("[^\n]+") do
      table.insert(expected, line)
    end
  end
  answers = 0
  bad = 0
  first_bad = ""
end

function response(status, headers, body)
  answers = answers + 1
  local good = status == 200 and not body:find('"errors"', 1, true)
  if good then
    for _, substring in ipairs(expected) do
      if not body:find(substring, 1, true) then
        good = false
        break
      end
    end
  end
  if not good then
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. " " .. body:sub(1, 300):gsub("%s+", " ")
    end
  end
end

function done(summary, latency, requests)
  local total_bad, total_answers, example = 0, 0, ""
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
    total_answers = total_answers + thread:get("answers")
    if example == "" then
      example = thread:get("first_bad")
    end
  end
  local errors = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d bad=%d answers=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    total_bad, total_answers, errors.connect + errors.read + errors.write + errors.timeout
  ))
  if example ~= "" then
    io.write("BENCH_FIRST_BAD " .. example .. "\n")
  end
end
