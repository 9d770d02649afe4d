-- A signed-in person's silent login: /authorize?prompt=none with the session cookie
-- answers 303 with a code, queued; the code is exchanged at /token. A unit is a login.
local authorize = {["Cookie"] = DATA.cookie}
local token = {["Authorization"] = DATA.basic, ["Content-Type"] = FORM}
local codes = {}

function request()
  local code = table.remove(codes, 1)
  if code then
    return wrk.format("POST", "/token", token, "grant_type=authorization_code&code="
                      .. code .. "&redirect_uri=" .. DATA.redirect_uri
                      .. "&code_verifier=" .. DATA.code_verifier)
  end
  return wrk.format("GET", DATA.authorize_path, authorize)
end

function response(status, headers, body)
  if status == 302 or status == 303 then
    local code = (headers["Location"] or ""):match("[?&]code=([^&]+)")
    if code then
      table.insert(codes, code)
      return
    end
  end
  count(status, 200)
end
