-- Profils › Demandes de création de profil: the first page of a signed-in
-- administrator's queue (DATA.cookie, his session).
local headers = {["Cookie"] = DATA.cookie}

function request()
  return wrk.format("GET", "/profils/demandes", headers)
end

function response(status, headers, body)
  count(status, 200)
end
