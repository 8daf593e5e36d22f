-- SPDX-License-Identifier: MIT
-- wrk script: visitors post into the dialogs of $BENCH_DIALOGS ("id:visitor_token,..."),
-- each message with a unique client_id ($BENCH_RUN makes the ids unique across wrk runs:
-- wrk's Lua random numbers are the same in every run). No response() callback, so wrk does
-- no more work per answer than for the reference's post.lua.
local dialogs = {}
for id, tok in string.gmatch(os.getenv("BENCH_DIALOGS") or "", "(%d+):([%w_%-]+)") do
  dialogs[#dialogs + 1] = { id = id, tok = tok }
end
local run = os.getenv("BENCH_RUN") or ""
local n = 0

function setup(thread)
  thread:set("tid", run .. "-" .. tostring(math.random(1, 1000000000)))
end

request = function()
  n = n + 1
  local d = dialogs[(n % #dialogs) + 1]
  local body = string.format('{"sender":"user","text":"bench message %d","client_id":"v-%s-%d"}', n, tid, n)
  return wrk.format("POST", "/api/widget/dialogs/" .. d.id .. "/messages",
                    { ["Content-Type"] = "application/json", ["X-Visitor-Token"] = d.tok }, body)
end
