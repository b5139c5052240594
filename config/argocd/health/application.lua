-- Health of an Application for a parent Application (app of apps), so that the parent's sync
-- waves wait for it: Argo CD stopped assessing Applications by default in v1.8. A child is
-- Healthy only once it is Synced too: before its first sync its own health is Missing, or
-- Healthy over nothing yet, and the next wave would start before this one's objects exist.
hs = {}
hs.status = "Progressing"
hs.message = "Waiting for the Application to sync"
if obj.status ~= nil and obj.status.health ~= nil then
  local health = obj.status.health.status
  local synced = obj.status.sync ~= nil and obj.status.sync.status == "Synced"
  if health == "Degraded" or health == "Suspended" or (health == "Healthy" and synced) then
    hs.status = health
    hs.message = obj.status.health.message or ""
  elseif health == "Progressing" then
    hs.message = obj.status.health.message or ""
  end
end
return hs
