-- wrk requests for one benchmark scenario, sent as the seeded bot.
--
-- bench/run.py sets the environment: BENCH_SCENARIO (finds, creates, create_message, list, get),
-- BENCH_BOT_ID, BENCH_BOT_KEY, BENCH_MESSAGES (how many messages were seeded), BENCH_PREFIX (a
-- random string unique to the run) and BENCH_DATA (a folder with conversations.txt, users.txt and
-- messages.txt, one id per line). Seeded message i carries the tag externalId = "seed-<i>" and
-- belongs to conversation i % #conversations, whose user wrote it (see bench/seed.py).

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "result.lua")

local function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    lines[#lines + 1] = line
  end
  return lines
end

local scenario, seeded, prefix, conversations, users, messages
local post_headers, get_headers
local counter = 0

function init(args)
  scenario = os.getenv("BENCH_SCENARIO")
  seeded = tonumber(os.getenv("BENCH_MESSAGES"))
  prefix = os.getenv("BENCH_PREFIX") .. "-" .. thread_number .. "-"
  local data = os.getenv("BENCH_DATA")
  conversations = read_lines(data .. "/conversations.txt")
  users = read_lines(data .. "/users.txt")
  if scenario == "get" then
    messages = read_lines(data .. "/messages.txt")
  end
  math.randomseed(os.time() * 1000 + thread_number)
  get_headers = {
    ["Authorization"] = "Bearer " .. os.getenv("BENCH_BOT_KEY"),
    ["x-bot-id"] = os.getenv("BENCH_BOT_ID"),
  }
  post_headers = {["Content-Type"] = "application/json"}
  for name, value in pairs(get_headers) do
    post_headers[name] = value
  end
end

local function message_body(owner, tags)
  return '{"conversationId":"' .. conversations[owner] .. '","userId":"' .. users[owner]
    .. '","type":"text","payload":{"text":"hello from wrk"},"tags":' .. tags .. '}'
end

local function post(path, body)
  return wrk.format("POST", path, post_headers, body)
end

local builders = {
  -- getOrCreateMessage that finds: the tag of a random seeded message, in its conversation.
  finds = function()
    local index = math.random(0, seeded - 1)
    local owner = index % #conversations + 1
    return post("/v1/chat/messages/get-or-create", message_body(owner, '{"externalId":"seed-' .. index .. '"}'))
  end,
  -- getOrCreateMessage that creates: a tag value no request has sent before.
  creates = function()
    counter = counter + 1
    local owner = math.random(#conversations)
    local tags = '{"externalId":"' .. prefix .. counter .. '"}'
    return post("/v1/chat/messages/get-or-create", message_body(owner, tags))
  end,
  create_message = function()
    return post("/v1/chat/messages", message_body(math.random(#conversations), "{}"))
  end,
  list = function()
    local path = "/v1/chat/messages?conversationId=" .. conversations[math.random(#conversations)]
    return wrk.format("GET", path, get_headers)
  end,
  get = function()
    return wrk.format("GET", "/v1/chat/messages/" .. messages[math.random(#messages)], get_headers)
  end,
}

function request()
  sent = sent + 1
  return builders[scenario]()
end
