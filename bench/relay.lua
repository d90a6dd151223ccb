-- wrk requests for the relay benchmark (bench/relay.py): a Telegram-like update POSTed to the
-- path of the URL wrk is given, a webhook URL or the stand-in integration's own.

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "result.lua")

local headers = {["Content-Type"] = "application/json"}

function request()
  sent = sent + 1
  local body = '{"update_id":' .. sent .. ',"message":{"message_id":' .. sent
    .. ',"from":{"id":4242,"is_bot":false,"first_name":"Ada","language_code":"en"},'
    .. '"chat":{"id":4242,"first_name":"Ada","type":"private"},"date":1733450000,"text":"hello from wrk"}}'
  return wrk.format("POST", nil, headers, body)
end
