-- SPDX-License-Identifier: MIT
-- wrk script: messages posted as the clients send them, each with a unique client_id
-- ($BENCH_RUN makes the ids unique across wrk runs: wrk's Lua random numbers are the same
-- in every run), round-robin over the dialogs given:
--   $BENCH_DIALOGS ("id:visitor_token,..."): visitors, through the widget route (client_id v-...);
--   $BENCH_DIALOG_IDS ("7,8,9,...") with $BENCH_TOKEN: an operator's replies (client_id o-...).
-- No response() callback, so wrk does no more work per answer than for the reference's post.lua.
local json = "application/json"
local targets = {}
for id, tok in string.gmatch(os.getenv("BENCH_DIALOGS") or "", "(%d+):([%w_%-]+)") do
  targets[#targets + 1] = { path = "/api/widget/dialogs/" .. id .. "/messages", sender = "user",
                            text = "bench message", prefix = "v",
                            headers = { ["Content-Type"] = json, ["X-Visitor-Token"] = tok } }
end
local auth = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
for id in string.gmatch(os.getenv("BENCH_DIALOG_IDS") or "", "%d+") do
  targets[#targets + 1] = { path = "/api/dialogs/" .. id .. "/messages", sender = "manager",
                            text = "bench reply", prefix = "o",
                            headers = { ["Content-Type"] = json, ["Authorization"] = auth } }
end
local run = os.getenv("BENCH_RUN") or ""
local n = 0

function setup(thread)
  thread:set("tid", run .. "-" .. tostring(math.random(1, 1000000000)))
end

request = function()
  n = n + 1
  local t = targets[(n % #targets) + 1]
  local body = string.format('{"sender":"%s","text":"%s %d","client_id":"%s-%s-%d"}',
                             t.sender, t.text, n, t.prefix, tid, n)
  return wrk.format("POST", t.path, t.headers, body)
end
