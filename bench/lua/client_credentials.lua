local headers = {["Authorization"] = DATA.basic, ["Content-Type"] = FORM}

function request()
  return wrk.format("POST", "/token", headers, "grant_type=client_credentials")
end

function response(status, headers, body)
  count(status, 200)
end
