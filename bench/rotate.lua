-- wrk script for bench/run.py: every request takes the next (path, cookie) pair of a
-- targets file (one "path<TAB>cookie" per line; cookie may be empty), so each signed-in
-- user and each of their cases get their share. Counts answers other than 200.
--   wrk -t1 -c4 -d10s -s bench/rotate.lua http://127.0.0.1:8731 -- targets.tsv

local targets = {}
local index = 0
local bad = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local path, cookie = line:match("^([^\t]+)\t?(.*)$")
    if path then
      table.insert(targets, { path = path, cookie = cookie })
    end
  end
  if #targets == 0 then
    error("no targets in " .. tostring(args[1]))
  end
  -- Threads start at different places of the list.
  index = math.random(#targets) - 1
end

function request()
  index = index % #targets + 1
  local target = targets[index]
  local headers = { ["Accept"] = "text/html" }
  if target.cookie ~= "" then
    headers["Cookie"] = target.cookie
  end
  return wrk.format("GET", target.path, headers)
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + (thread:get("bad") or 0)
  end
  io.write(string.format("not_200: %d\n", total))
end
