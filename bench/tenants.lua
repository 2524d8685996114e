-- wrk script for bench/tenants.py: each request is a poll of BENCH_PATH by
-- the next organization's front end, each wrk thread walking the tokens in
-- BENCH_TOKENS (one per line) round robin from its own offset, so polls
-- spread uniformly over all organizations. BENCH_GZIP=1 asks as a browser.

local counter = 0

function setup(thread)
  thread:set("offset", counter * 997)
  counter = counter + 1
end

local tokens, path, gzip, next_token

function init(args)
  tokens = {}
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if #line > 0 then
      tokens[#tokens + 1] = "Bearer " .. line
    end
  end
  path = os.getenv("BENCH_PATH")
  gzip = os.getenv("BENCH_GZIP") == "1"
  next_token = offset or 0
end

function request()
  next_token = next_token % #tokens + 1
  local headers = { ["Authorization"] = tokens[next_token] }
  if gzip then
    headers["Accept-Encoding"] = "gzip, deflate, br"
  end
  return wrk.format("GET", path, headers)
end
