-- The login page, then its form posted with the right password (302 when signed in).
-- A page's cookie and CSRF token go together into a queue; a unit is a login.
local forms = {}

function request()
  local form = table.remove(forms, 1)
  if form then
    return wrk.format("POST", "/connexion", {["Cookie"] = form.cookie, ["Content-Type"] = FORM},
                      "csrf_token=" .. form.csrf .. DATA.credentials)
  end
  return wrk.format("GET", "/connexion")
end

function response(status, headers, body)
  if status == 200 then
    local csrf = body:match('name="csrf_token" type="hidden" value="([^"]+)"')
    local cookie = (headers["Set-Cookie"] or ""):match("^([^;]+)")
    if csrf and cookie then
      table.insert(forms, {csrf = csrf, cookie = cookie})
      return
    end
  end
  count(status, 302)
end
