-- Health of an Application for a parent Application (app of apps): its own health, so the
-- parent's sync waves wait for it. Argo CD stopped assessing Applications by default in v1.8.
hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
end
return hs
